"""The three roles of the tool as groups (issue 5).

- DPO: every permission of the staff directory, campaigns and audit apps
  (evidence export, the audit log, access/erasure requests) and the
  two-factor devices; recipients and deliveries stay read-only (evidence).
- HR: the staff directory and its imports, campaigns (create, edit, launch,
  pause, cancel); may read recipients and deliveries; no evidence export, no
  audit log, no erasure.
- Viewer: read-only on the directory and campaigns (dashboard included).

Permissions are normally created after all migrations (post_migrate); they
are created here first so that a fresh database gets complete groups.
Re-running is harmless: groups are matched by name and permissions added.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("employees", "notifications", "audit")
HR_MODELS = {
    "employees": ("employee", "importrun"),
    "notifications": ("campaign", "campaigncontent", "step"),
}
READ_ONLY = {"notifications": ("recipient", "delivery")}
# Permissions of HR's models that stay the DPO's (0006_links_export): absent
# when this runs in migration order, present when tests re-run it against
# today's models (tests/conftest.py's ``roles``).
NOT_HR = ("export_links",)


def _ensure_permissions(apps):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def create_roles(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label__in=APPS)
    otp = Permission.objects.filter(
        content_type__app_label__in=("otp_totp", "otp_static")
    )

    dpo, _ = Group.objects.get_or_create(name="DPO")
    # Recipients and deliveries are evidence: read-only even for the DPO.
    evidence = ours.filter(
        content_type__app_label="notifications",
        content_type__model__in=READ_ONLY["notifications"],
    ).exclude(codename__startswith="view_")
    dpo.permissions.add(*ours.exclude(pk__in=evidence), *otp)

    hr, _ = Group.objects.get_or_create(name="HR")
    for app_label, models in HR_MODELS.items():
        hr.permissions.add(
            *ours.filter(
                content_type__app_label=app_label, content_type__model__in=models
            ).exclude(codename__in=NOT_HR)
        )
    for app_label, models in READ_ONLY.items():
        hr.permissions.add(
            *ours.filter(
                content_type__app_label=app_label,
                content_type__model__in=models,
                codename__startswith="view_",
            )
        )

    viewer, _ = Group.objects.get_or_create(name="Viewer")
    viewer.permissions.add(
        *ours.filter(
            content_type__app_label__in=("employees", "notifications"),
            codename__startswith="view_",
        )
    )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=("DPO", "HR", "Viewer")
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("employees", "0003_drop_audience_indexes"),
        ("notifications", "0001_initial"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
