"""What the API reads and writes, field by field (the OpenAPI schema's source)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from employees.models import Employee
from events.catalogue import EVENT_TYPES
from events.models import WebhookEndpoint
from notifications.campaigns.library import TEMPLATES
from notifications.models import Campaign, Recipient


class EmployeeSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)
    manager = serializers.PrimaryKeyRelatedField(
        queryset=Employee.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Employee
        fields = [
            "id",
            "email",
            "hr_id",
            "first_name",
            "last_name",
            "department",
            "country",
            "language",
            "time_zone",
            "manager",
            "active",
            "email_status",
            "source",
            "created_at",
            "updated_at",
            "deactivated_at",
        ]
        read_only_fields = [
            "id",
            "active",
            "email_status",
            "source",
            "created_at",
            "updated_at",
            "deactivated_at",
        ]
        # Matched by HR id, else e-mail, as the import: not unique here.
        extra_kwargs = {"email": {"validators": []}, "hr_id": {"validators": []}}


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    dry_run = serializers.BooleanField(default=False)
    sync = serializers.BooleanField(default=False)


class IssueSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True)
    column = serializers.CharField(allow_blank=True, allow_null=True)
    message = serializers.CharField()


class ImportResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    dry_run = serializers.BooleanField()
    written = serializers.BooleanField()
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    deactivated = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = IssueSerializer(many=True)
    warnings = IssueSerializer(many=True)


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "reference",
            "template",
            "status",
            "deadline",
            "departments",
            "countries",
            "languages",
            "created_at",
            "launched_at",
        ]
        read_only_fields = fields


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    deadline = serializers.DateTimeField()
    template = serializers.ChoiceField(choices=sorted(TEMPLATES))
    departments = serializers.ListField(child=serializers.CharField(), required=False)
    countries = serializers.ListField(child=serializers.CharField(), required=False)
    languages = serializers.ListField(
        child=serializers.ChoiceField(choices=[c for c, _n in settings.LANGUAGES]),
        required=False,
    )
    from_email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    reply_to = serializers.EmailField(required=False, allow_blank=True)
    dpo_contact = serializers.CharField(
        required=False, allow_blank=True, max_length=254
    )

    def validate_name(self, value: str) -> str:
        if Campaign.objects.filter(name=value).exists():
            raise serializers.ValidationError(_("A campaign with this name exists."))
        return value


class StepFiguresSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    due = serializers.CharField(allow_null=True)


class CampaignStatusSerializer(serializers.Serializer):
    """As ``campaign_status --json`` prints it."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    reference = serializers.CharField()
    status = serializers.CharField()
    deadline = serializers.CharField()
    audience = serializers.IntegerField()
    enrolled = serializers.IntegerField()
    acknowledged = serializers.IntegerField()
    steps = serializers.ListField(child=serializers.DictField())


class ActionResultSerializer(serializers.Serializer):
    status = serializers.CharField()
    outcome = serializers.CharField()
    enrolled = serializers.IntegerField(required=False)


class RecipientSerializer(serializers.ModelSerializer):
    acknowledged = serializers.SerializerMethodField()
    notified = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()
    bounced = serializers.SerializerMethodField()

    class Meta:
        model = Recipient
        fields = [
            "id",
            "employee",
            "email",
            "language",
            "acknowledged",
            "acknowledged_at",
            "answer",
            "notified",
            "steps",
            "bounced",
        ]

    def get_acknowledged(self, obj: Recipient) -> bool:
        return obj.acknowledged_at is not None

    def _deliveries(self, obj: Recipient) -> list:
        return list(obj.deliveries.all())

    def get_notified(self, obj: Recipient) -> bool:
        return any(d.status in _REACHED for d in self._deliveries(obj))

    def get_steps(self, obj: Recipient) -> list[dict]:
        return [
            {"step": d.step_id, "status": d.status, "sent_at": d.sent_at}
            for d in self._deliveries(obj)
        ]

    def get_bounced(self, obj: Recipient) -> bool:
        return any(d.status in ("bounced", "complained") for d in self._deliveries(obj))


_REACHED = ("sent", "delivered", "deferred")


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(EVENT_TYPES)), allow_empty=False
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "enabled",
            "created_at",
            "failing_since",
            "disabled_reason",
        ]
        read_only_fields = ["id", "created_at", "failing_since", "disabled_reason"]


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True)

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
