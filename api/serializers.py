"""What the API reads and writes, field by field (the OpenAPI schema's source)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

from employees.models import Employee
from employees.timezones import zone_clean
from events.catalogue import EVENT_TYPES
from events.models import WebhookEndpoint
from notifications.campaigns.library import TEMPLATES
from notifications.models import Campaign, Recipient
from notifications.validators import sender_validate

# The largest id a database's integer key holds (PostgreSQL's bigint).
_MAX_ID = 2**63 - 1


class EmployeeRefField(serializers.PrimaryKeyRelatedField):
    """An employee's id: a whole number. DRF's own takes a JSON 2.5 for 2
    and fails with a 500 on 1e400 (infinity) or an id past the database's
    integer."""

    def to_internal_value(self, data):  # type: ignore[no-untyped-def]
        if isinstance(data, str) and data.isascii() and data.isdigit():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 0 < data <= _MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class EmployeeSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)
    manager = EmployeeRefField(
        queryset=Employee.objects.all(), required=False, allow_null=True
    )

    def validate_time_zone(self, value: str) -> str:
        """As the staff file's column and the admin's form read it."""
        return zone_clean(value)

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
    # As long as an employee's own department or country can be.
    departments = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, max_length=1000
    )
    countries = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=1000
    )
    languages = serializers.ListField(
        child=serializers.ChoiceField(choices=[c for c, _n in settings.LANGUAGES]),
        required=False,
    )
    from_email = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=254,
        validators=[sender_validate],
    )
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
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="What the admin warns about at save, in the request's "
        "language: why a draft could not be launched as it stands, "
        "translations not reviewed yet. Empty once launched.",
    )


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
