"""The public pages: a personal acknowledgement link and /verify/.

Thin: parse, throttle, call acknowledging.py / selectors.py, render. A GET or
HEAD never writes; only a valid POST of the page's form (CSRF token, ticked
box, answer when asked) records anything.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from notifications import acknowledging, throttle
from notifications.acknowledging import LinkState, Outcome
from notifications.forms import AckForm, VerifyForm
from notifications.models import Campaign, CampaignContent, Recipient
from notifications.selectors import campaign_by_reference


def _private(response: HttpResponse) -> HttpResponse:
    # The address is a credential: no Referer to other sites, no indexing.
    # (Not "no-referrer": browsers then send "Origin: null" with the form
    # and the CSRF check refuses every acknowledgement.)
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _too_many(request: HttpRequest) -> HttpResponse:
    response = render(request, "ack/too_many.html", status=429)
    response["Retry-After"] = str(throttle.retry_after())
    return _private(response)


def _not_found(request: HttpRequest) -> HttpResponse:
    throttle.failure_note(request)
    return _private(render(request, "ack/not_found.html", status=404))


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def ack(request: HttpRequest, token: str) -> HttpResponse:
    if throttle.throttled(request):
        return _too_many(request)
    recipient = acknowledging.recipient_by_token(token)
    if recipient is None:
        return _not_found(request)
    campaign = recipient.campaign
    now = timezone.now()
    state = acknowledging.link_state(campaign, now=now)
    requested = request.GET.get("lang", "")
    if state != LinkState.OPEN:
        everyone = [code for code, _name in settings.LANGUAGES]
        language = acknowledging.page_language(requested, recipient, everyone)
        context = {"state": state, "campaign": campaign}
        with translation.override(language):
            return _private(render(request, "ack/closed.html", context, status=410))
    contents = acknowledging.current_contents(campaign)
    languages = acknowledging.page_languages(contents)
    language = acknowledging.page_language(requested, recipient, languages)
    tz = ZoneInfo(campaign.time_zone)
    with translation.override(language), timezone.override(tz):
        return _private(_ack_page(request, recipient, token, language, contents, now))


def _ack_page(
    request: HttpRequest,
    recipient: Recipient,
    token: str,
    language: str,
    contents: dict[str, CampaignContent],
    now: datetime,
) -> HttpResponse:
    campaign = recipient.campaign
    content = contents.get(language) or contents.get(settings.LANGUAGE_CODE)
    if content is None:  # a launched campaign always has content
        return _not_found(request)
    page = acknowledging.page_build(
        recipient=recipient, content=content, token=token, now=now
    )
    choices = acknowledging.answer_choices(campaign, language)
    result = None
    status = 200
    if request.method == "POST":
        form = AckForm(request.POST, campaign=campaign, choices=choices)
        if form.is_valid():
            result = acknowledging.acknowledgement_record(
                recipient=recipient,
                content=form.cleaned_data["content"],
                answer=form.cleaned_data.get("answer", ""),
                language=language,
                client_ip=throttle.client_address(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                now=now,
            )
            form = _fresh_form(campaign, choices, content, recipient)
        else:
            status = 400
    else:
        form = _fresh_form(campaign, choices, content, recipient)
    context = {
        "recipient": recipient,
        "campaign": campaign,
        "page": page,
        "form": form,
        "result": result,
        "outcome": Outcome,
        "language": language,
        "languages": [
            (code, translation.get_language_info(code)["name_local"])
            for code in acknowledging.page_languages(contents)
        ],
        "choices": choices,
        "selected": form["answer"].value() if choices else "",
        "answer_label": dict(choices).get(recipient.answer, recipient.answer),
        "can_change": bool(choices) and not page.deadline_passed,
        "action": request.get_full_path(),
    }
    return render(request, "ack/page.html", context, status=status)


def _fresh_form(
    campaign: Campaign,
    choices: list[tuple[str, str]],
    content: CampaignContent,
    recipient: Recipient,
) -> AckForm:
    initial = {"content": content.pk}
    if recipient.answer:
        initial["answer"] = recipient.answer
    return AckForm(campaign=campaign, choices=choices, initial=initial)


@never_cache
@require_http_methods(["GET", "HEAD"])
def verify(request: HttpRequest) -> HttpResponse:
    if throttle.throttled(request):
        return _too_many(request)
    form = VerifyForm(request.GET or None)
    campaign = None
    checked = form.is_bound and form.is_valid()
    if checked:
        campaign = campaign_by_reference(form.cleaned_data["reference"])
        if campaign is None:
            throttle.failure_note(request)
    context = {"form": form, "checked": checked, "campaign": campaign}
    return render(request, "ack/verify.html", context)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A POST without the page's form token (or with cookies blocked)."""
    return _private(render(request, "ack/csrf_failure.html", status=403))
