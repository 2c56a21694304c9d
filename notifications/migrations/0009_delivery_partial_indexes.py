"""Partial indexes on deliveries: fewer index entries written per message
(see Delivery's comment), the same lookups served."""

import django.db.models.deletion
from django.db import migrations, models

# The content foreign key's own index, as Django named it on both databases.
CONTENT_INDEX = "notifications_delivery_content_id_beff8c1e"


class Migration(migrations.Migration):
    dependencies = [
        ("employees", "0006_time_zone_source_eu_languages"),
        ("notifications", "0008_recipient_people_order"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="delivery",
            name="delivery_once_per_manager_step",
        ),
        migrations.RemoveIndex(
            model_name="delivery",
            name="delivery_status_claim",
        ),
        # Only the index goes: Django's AlterField would also drop and add
        # the foreign key again, checking every row of a large table.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="delivery",
                    name="content",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deliveries",
                        to="notifications.campaigncontent",
                        verbose_name="content version",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{CONTENT_INDEX}"',
                    reverse_sql=f'CREATE INDEX "{CONTENT_INDEX}" '
                    'ON "notifications_delivery" ("content_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(
                    (
                        "status__in",
                        (
                            "queued",
                            "sending",
                            "failed",
                            "bounced",
                            "deferred",
                            "complained",
                            "rejected",
                        ),
                    )
                ),
                fields=["status", "claimed_at"],
                name="delivery_status_claim",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("content__isnull", False)),
                fields=["content"],
                name="delivery_content",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("manager__isnull", False)),
                fields=("manager", "step"),
                name="delivery_once_per_manager_step",
            ),
        ),
    ]
