"""The DPO role sees and revokes SCIM tokens (audit/migrations/0002_roles
gives it the directory's other permissions)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    app_config = apps.get_app_config("directory")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    dpo = Group.objects.filter(name="DPO").first()
    if dpo is not None:
        dpo.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="directory",
                codename__in=("view_scimtoken", "change_scimtoken"),
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0001_initial"),
        ("audit", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
