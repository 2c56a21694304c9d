"""The API's views: thin, each calling the service the admin calls."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.http import JsonResponse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from api import employees as api_employees
from api import serializers as s
from api.idempotency import idempotent
from api.imports import import_answer
from api.pagination import Cursor
from api.problems import CONTENT_TYPE
from employees.models import Employee
from events import services as webhooks
from events.models import WebhookEndpoint
from notifications.admin import notes
from notifications.campaigns import library, steering
from notifications.campaigns import services as campaigns
from notifications.campaigns.selectors import campaign_status
from notifications.models import (
    Campaign,
    CampaignAction,
    CampaignStatus,
    Delivery,
    Recipient,
)


def _param(request, name: str) -> str:  # type: ignore[no-untyped-def]
    """A query parameter's text ("" when absent); a NUL character, which no
    stored value holds and PostgreSQL refuses in a query (a 500), is a 400."""
    raw = request.query_params.get(name) or ""
    if "\x00" in raw:
        raise ValidationError({name: _("Must not contain a NUL character.")})
    return raw


def _bool(request, name: str) -> bool | None:  # type: ignore[no-untyped-def]
    raw = _param(request, name)
    if not raw:
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ValidationError({name: _("Must be true or false.")})


def _actor(request) -> str:  # type: ignore[no-untyped-def]
    return request.auth.actor


def _is_dpo(user) -> bool:  # type: ignore[no-untyped-def]
    return user.key.role == "DPO"


_EMPLOYEE_FILTERS = [
    OpenApiParameter("active", OpenApiTypes.BOOL, description="Without it, everyone."),
    OpenApiParameter("department", OpenApiTypes.STR),
    OpenApiParameter("country", OpenApiTypes.STR),
    OpenApiParameter("language", OpenApiTypes.STR),
    OpenApiParameter("updated_since", OpenApiTypes.DATETIME),
]


# Ids in addresses: whole numbers that fit the database's integer. A
# full-width digit, "1 " or an id of 30 digits is no address (404), not a
# lookup of employee 1 or an integer overflow.
_ID = "[0-9]{1,18}"


@extend_schema(tags=["employees"])
class EmployeeViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    lookup_value_regex = _ID
    serializer_class = s.EmployeeSerializer
    pagination_class = Cursor
    required = {
        "list": "employees.view_employee",
        "retrieve": "employees.view_employee",
        "create": "employees.add_employee",
        "partial_update": "employees.change_employee",
        "deactivate": "employees.change_employee",
    }

    def get_queryset(self):  # type: ignore[no-untyped-def]
        people = Employee.objects.all()
        if self.action != "list":
            return people
        active = _bool(self.request, "active")
        if active is not None:
            people = people.filter(is_active=active)
        for name in ("department", "country", "language"):
            if value := _param(self.request, name):
                people = people.filter(**{name: value})
        if raw := _param(self.request, "updated_since"):
            try:
                since = parse_datetime(raw)
            except ValueError:  # well formed, impossible (2025-02-30)
                since = None
            if since is None:
                raise ValidationError(
                    {"updated_since": _("Not an ISO 8601 date-time.")}
                )
            people = people.filter(updated_at__gte=since)
        return people

    @extend_schema(parameters=_EMPLOYEE_FILTERS)
    def list(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=s.EmployeeSerializer,
        responses={200: s.EmployeeSerializer, 201: s.EmployeeSerializer},
        description="Create, or update the employee with this HR id, else this e-mail.",
    )
    @idempotent
    def create(self, request):  # type: ignore[no-untyped-def]
        serializer = s.EmployeeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        employee, created = api_employees.employee_upsert(
            data=_employee_data(serializer.validated_data), actor=_actor(request)
        )
        return Response(
            s.EmployeeSerializer(employee).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def partial_update(self, request, pk=None):  # type: ignore[no-untyped-def]
        employee = self.get_object()
        serializer = s.EmployeeSerializer(employee, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        employee, _created = api_employees.employee_upsert(
            data=_employee_data(serializer.validated_data),
            actor=_actor(request),
            employee=employee,
        )
        return Response(s.EmployeeSerializer(employee).data)

    @extend_schema(request=None, responses=s.EmployeeSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):  # type: ignore[no-untyped-def]
        employee = api_employees.employee_deactivate(
            employee=self.get_object(), actor=_actor(request)
        )
        return Response(s.EmployeeSerializer(employee).data)


def _employee_data(validated: dict) -> dict:
    data = dict(validated)
    if "manager" in data:
        manager = data.pop("manager")
        data["manager_id"] = manager.pk if manager else None
    return data


def _with_warnings(campaign: Campaign) -> dict:
    """campaign_status's figures and what the admin warns about at save:
    why a draft could not be launched as it stands (a deadline passed, no
    one in the audience), template translations nobody reviewed yet."""
    warnings = notes.save_warnings(campaign)
    if campaign.status == CampaignStatus.DRAFT:
        warnings.append(library.review_reminder(campaign))
    return {**campaign_status(campaign), "warnings": [w for w in warnings if w]}


@extend_schema(tags=["imports"])
class ImportViewSet(viewsets.GenericViewSet):
    lookup_value_regex = _ID
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = s.ImportSerializer
    required = {"create": "employees.add_importrun"}

    @extend_schema(
        request={"multipart/form-data": s.ImportSerializer},
        responses={200: s.ImportResultSerializer, 201: s.ImportResultSerializer},
    )
    @idempotent
    def create(self, request):  # type: ignore[no-untyped-def]
        serializer = s.ImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body, code = import_answer(
            upload=serializer.validated_data["file"],
            dry_run=serializer.validated_data["dry_run"],
            sync=serializer.validated_data["sync"],
            actor=_actor(request),
        )
        return Response(
            body, status=code, content_type=CONTENT_TYPE if code >= 400 else None
        )


@extend_schema(tags=["campaigns"])
class CampaignViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    lookup_value_regex = _ID
    queryset = Campaign.objects.all()
    serializer_class = s.CampaignSerializer
    pagination_class = Cursor
    required = {
        "list": "notifications.view_campaign",
        "retrieve": "notifications.view_campaign",
        "create": "notifications.add_campaign",
        "launch": "notifications.change_campaign",
        "pause": "notifications.change_campaign",
        "resume": "notifications.change_campaign",
        "cancel": "notifications.change_campaign",
        "recipients": "notifications.view_recipient",
    }

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR)],
    )
    def list(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        return super().list(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        wanted = _param(self.request, "status")
        return self.queryset.filter(status=wanted) if wanted else self.queryset

    @extend_schema(responses=s.CampaignStatusSerializer)
    def retrieve(self, request, pk=None):  # type: ignore[no-untyped-def]
        return Response(_with_warnings(self.get_object()))

    @extend_schema(
        request=s.CampaignCreateSerializer, responses={201: s.CampaignStatusSerializer}
    )
    @idempotent
    def create(self, request):  # type: ignore[no-untyped-def]
        serializer = s.CampaignCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # One transaction: a campaign whose answer cannot be made is not left.
        with transaction.atomic():
            try:
                campaign = campaigns.campaign_create(
                    **serializer.validated_data, created_by=_actor(request)
                )
            except DjangoValidationError as exc:
                raise ValidationError({"name": exc.messages}) from exc
            answer = _with_warnings(campaign)
        return Response(answer, status=status.HTTP_201_CREATED)

    def _acted(self, campaign: Campaign, outcome: str, code: int = 200, **extra):  # type: ignore[no-untyped-def]
        campaign.refresh_from_db()
        return Response(
            {"status": campaign.status, "outcome": outcome, **extra}, status=code
        )

    def _refused(self, campaign: Campaign, what: CampaignAction):  # type: ignore[no-untyped-def]
        raise ValidationError(
            {
                "status": _("A campaign that is %(status)s cannot be %(action)s.")
                % {"status": campaign.get_status_display(), "action": what.label}
            }
        )

    @extend_schema(
        request=None,
        responses={200: s.ActionResultSerializer, 202: s.ActionResultSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def launch(self, request, pk=None):  # type: ignore[no-untyped-def]
        """With LAUNCH_REQUIRES_APPROVAL a launch is asked for (202) and a
        second DPO approves it in the admin: a key never approves."""
        campaign = self.get_object()
        if not campaign.allows(CampaignAction.LAUNCH):
            self._refused(campaign, CampaignAction.LAUNCH)
        try:
            if steering.approval_required():
                steering.launch_request(campaign=campaign, user=_actor(request))
                return self._acted(campaign, "requested", status.HTTP_202_ACCEPTED)
            enrolled = campaigns.campaign_launch(
                campaign=campaign, user=_actor(request)
            )
        except campaigns.CampaignError as exc:
            raise ValidationError({"campaign": list(exc.args[0])}) from exc
        return self._acted(campaign, "launched", enrolled=enrolled)

    def _lifecycle(self, request, what: CampaignAction, service):  # type: ignore[no-untyped-def]
        campaign = self.get_object()
        if not service(campaign=campaign, user=_actor(request)):
            self._refused(campaign, what)
        return self._acted(campaign, what.value)

    @extend_schema(request=None, responses=s.ActionResultSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):  # type: ignore[no-untyped-def]
        return self._lifecycle(request, CampaignAction.PAUSE, campaigns.campaign_pause)

    @extend_schema(request=None, responses=s.ActionResultSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):  # type: ignore[no-untyped-def]
        return self._lifecycle(
            request, CampaignAction.RESUME, campaigns.campaign_resume
        )

    @extend_schema(request=None, responses=s.ActionResultSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):  # type: ignore[no-untyped-def]
        return self._lifecycle(
            request, CampaignAction.CANCEL, campaigns.campaign_cancel
        )

    @extend_schema(
        parameters=[OpenApiParameter("acknowledged", OpenApiTypes.BOOL)],
        responses=s.RecipientSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=Cursor)
    def recipients(self, request, pk=None):  # type: ignore[no-untyped-def]
        campaign = self.get_object()
        people = Recipient.objects.filter(campaign=campaign).prefetch_related(
            Prefetch("deliveries", queryset=Delivery.objects.order_by("id"))
        )
        acknowledged = _bool(request, "acknowledged")
        if acknowledged is not None:
            people = people.filter(acknowledged_at__isnull=not acknowledged)
        page = self.paginate_queryset(people)
        return self.get_paginated_response(s.RecipientSerializer(page, many=True).data)


@extend_schema(tags=["webhooks"])
class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """DPO keys only."""

    lookup_value_regex = _ID

    queryset = WebhookEndpoint.objects.all()
    serializer_class = s.WebhookSerializer
    pagination_class = Cursor
    required = {
        name: _is_dpo
        for name in (
            "list",
            "retrieve",
            "create",
            "partial_update",
            "destroy",
            "rotate",
        )
    }

    @extend_schema(
        request=s.WebhookSerializer, responses={201: s.WebhookCreatedSerializer}
    )
    @idempotent
    def create(self, request):  # type: ignore[no-untyped-def]
        serializer = s.WebhookSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = webhooks.endpoint_create(
            url=data["url"],
            events=list(data["events"]),
            description=data.get("description", ""),
            actor=_actor(request),
        )
        if data.get("enabled") is False:
            webhooks.endpoint_update(
                endpoint=endpoint, actor=_actor(request), enabled=False
            )
        answer = s.WebhookCreatedSerializer(endpoint).data
        return Response(answer, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):  # type: ignore[no-untyped-def]
        endpoint = self.get_object()
        serializer = s.WebhookSerializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        webhooks.endpoint_update(
            endpoint=endpoint,
            actor=_actor(request),
            url=data.get("url"),
            events=list(data["events"]) if "events" in data else None,
            enabled=data.get("enabled"),
            description=data.get("description"),
        )
        return Response(s.WebhookSerializer(endpoint).data)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        webhooks.endpoint_update(
            endpoint=instance, actor=_actor(self.request), enabled=False
        )
        instance.delete()

    @extend_schema(
        request=None,
        responses=inline_serializer("Rotated", {"secret": serializers.CharField()}),
        description="A new secret; the previous one keeps signing during the grace period.",
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):  # type: ignore[no-untyped-def]
        secret = webhooks.endpoint_rotate(
            endpoint=self.get_object(), actor=_actor(request)
        )
        return Response(
            {"secret": secret, "previous_valid_seconds": settings.WEBHOOK_SECRET_GRACE}
        )


@csrf_exempt  # an API answer (no cookie is ever used): 404 whatever the method
def not_found(request, *args, **kwargs):  # type: ignore[no-untyped-def]
    body = {
        "type": "about:blank",
        "title": _("Not found."),
        "status": 404,
        "detail": _("No such resource: the API's paths are listed at /api/docs/."),
    }
    answer = JsonResponse(body, status=404)
    answer["Content-Type"] = CONTENT_TYPE
    return answer
