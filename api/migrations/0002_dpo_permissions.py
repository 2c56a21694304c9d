"""The DPO sees and revokes API keys in the admin; HR and Viewer do not."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    dpo, _ = Group.objects.get_or_create(name="DPO")
    dpo.permissions.add(
        *Permission.objects.filter(content_type__app_label="api", codename__endswith="apikey")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("audit", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
