"""The public pages: a personal acknowledgement link and /verify/.

Thin: parse, throttle, call acknowledgements/services.py, render. A GET or
HEAD never writes; only a valid POST of the page's form (CSRF token, ticked
box, answer when asked) records anything.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import conditional_escape
from django.utils.http import http_date
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from common import localdates
from notifications.acknowledgements import csrftoken, throttle
from notifications.acknowledgements import services as acknowledgements
from notifications.acknowledgements.forms import AckForm, VerifyForm
from notifications.acknowledgements.services import LinkState, Outcome
from notifications.campaigns import content as content_mod
from notifications.campaigns.selectors import campaign_by_reference
from notifications.models import Campaign, CampaignContent, Recipient

# What django.views.decorators.cache.never_cache sets, written once instead
# of parsed and patched for each response of the link page.
_NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


def _private(response: HttpResponse, language: str = "") -> HttpResponse:
    # Never stored by the browser or a proxy: the page is personal.
    response["Cache-Control"] = _NEVER_CACHE
    response["Expires"] = http_date()
    if language:
        # The page's own language (the locale middleware would otherwise
        # announce the browser's, whatever ?lang= chose).
        response["Content-Language"] = language
    # The address is a credential: no Referer to other sites, no indexing.
    # (Not "no-referrer": browsers then send "Origin: null" with the form
    # and the CSRF check refuses every acknowledgement.)
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _refusal(request: HttpRequest, template: str, status: int) -> HttpResponse:
    """A page for no link in particular: in the ?lang= language when it is
    one of ours (the reader chose it on a page before), else the browser's."""
    requested = request.GET.get("lang", "")
    if requested not in dict(settings.LANGUAGES):
        return _private(render(request, template, status=status))
    with translation.override(requested):
        return _private(render(request, template, status=status), requested)


def _too_many(request: HttpRequest) -> HttpResponse:
    response = _refusal(request, "ack/too_many.html", 429)
    response["Retry-After"] = str(throttle.retry_after())
    return response


def _not_found(request: HttpRequest) -> HttpResponse:
    return _refusal(request, "ack/not_found.html", 404)


@require_http_methods(["GET", "HEAD", "POST"])
def ack(request: HttpRequest, token: str) -> HttpResponse:
    # Looked up first, counted after: a guesser's unknown links must not
    # lock out the valid links of colleagues behind the same address.
    recipient = acknowledgements.recipient_by_token(token)
    if throttle.link_throttled(request, unknown=recipient is None):
        return _too_many(request)
    if recipient is None:
        return _not_found(request)
    campaign = recipient.campaign
    now = timezone.now()
    state = acknowledgements.link_state(campaign, now=now)
    requested = request.GET.get("lang", "")
    if state != LinkState.OPEN:
        everyone = [code for code, _name in settings.LANGUAGES]
        language = acknowledgements.page_language(requested, recipient, everyone)
        context = {"state": state, "campaign": campaign}
        with translation.override(language):
            page = render(request, "ack/closed.html", context, status=410)
            return _private(page, language)
    contents = acknowledgements.current_contents(campaign)
    languages = acknowledgements.page_languages(contents)
    language = acknowledgements.page_language(requested, recipient, languages)
    tz = acknowledgements.recipient_zone(recipient)  # the person's own zone
    with translation.override(language), timezone.override(tz):
        page = _ack_page(request, recipient, token, language, contents, now)
        return _private(page, language)


@require_http_methods(["GET", "HEAD", "POST"])
def bad_link(request: HttpRequest) -> HttpResponse:
    """Any other path under /a/: an extra segment, an encoded slash (which
    the server decodes into one), no token. The same page, headers and
    failure count as an unknown token, so a mangled link tells nothing more
    than a wrong one and costs a guesser the same."""
    if throttle.link_throttled(request, unknown=True):
        return _too_many(request)
    return _not_found(request)


def _ack_page(
    request: HttpRequest,
    recipient: Recipient,
    token: str,
    language: str,
    contents: dict[str, CampaignContent],
    now: datetime,
) -> HttpResponse:
    campaign = recipient.campaign
    content = content_mod.content_in(contents, language)
    if content is None:  # a launched campaign always has content
        return _not_found(request)
    choices = acknowledgements.answer_choices(campaign, language)
    result = refused = None
    if request.method == "POST":
        result, refused = _post(request, recipient, contents, choices, language, now)
    page = acknowledgements.page_build(
        recipient=recipient, content=content, token=token, now=now
    )
    acknowledged_at = recipient.acknowledged_at
    personal = {
        "title": page.title,
        "body": page.body,
        "acknowledged_on": localdates.date_and_time(
            timezone.localtime(acknowledged_at), language
        )
        if acknowledged_at
        else "",
        "action": request.get_full_path(),
        "csrf_token": csrftoken.get_token(request),
    }
    languages = acknowledgements.page_languages(contents)
    if refused is not None:  # the only page with something typed in it
        context = _page_context(
            recipient, page, refused, result, language, languages, choices
        )
        return render(request, "ack/page.html", {**context, **personal}, status=400)
    key = (
        content.pk,
        language,
        tuple(languages),
        campaign.pk,
        campaign.reference,
        campaign.dpo_contact,
        tuple(choices),
        campaign.answer_required,
        page.deadline,
        page.days_left,
        page.deadline_passed,
        page.closed,
        page.late,
        acknowledged_at is not None,
        recipient.answer,
        result.outcome if result else "",
    )
    frame = _FRAMES.get(key)
    if frame is None:
        form = _fresh_form(campaign, choices, content, recipient)
        # Nothing personal may reach the shared frame but through a marker.
        impersonal = dataclasses.replace(page, title="", body=mark_safe(""))
        context = _page_context(
            recipient, impersonal, form, result, language, languages, choices
        )
        frame = _Frame.build("ack/page.html", context, list(personal))
        if len(_FRAMES) > 512:
            _FRAMES.clear()
        _FRAMES[key] = frame
    refused_closed = result is not None and result.outcome == Outcome.CLOSED
    return HttpResponse(frame.fill(personal), status=410 if refused_closed else 200)


def _post(
    request: HttpRequest,
    recipient: Recipient,
    contents: dict[str, CampaignContent],
    choices: list[tuple[str, str]],
    language: str,
    now: datetime,
) -> tuple[acknowledgements.Result | None, AckForm | None]:
    """The page's form sent: (what recording did, or the refused form)."""
    campaign = recipient.campaign
    known = {c.pk: c for c in contents.values()}
    form = AckForm(request.POST, campaign=campaign, choices=choices, known=known)
    if not form.is_valid():
        return None, form
    result = acknowledgements.acknowledgement_record(
        recipient=recipient,
        content=form.cleaned_data["content"],
        answer=form.cleaned_data.get("answer", ""),
        language=language,
        client_ip=throttle.client_address(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        now=now,
    )
    return result, None


def _page_context(
    recipient: Recipient,
    page: acknowledgements.Page,
    form: AckForm,
    result: acknowledgements.Result | None,
    language: str,
    languages: list[str],
    choices: list[tuple[str, str]],
) -> dict[str, object]:
    return {
        "campaign": recipient.campaign,
        "page": page,
        "form": form,
        "result": result,
        "outcome": Outcome,
        "language": language,
        "languages": [
            (code, translation.get_language_info(code)["name_local"])
            for code in languages
        ],
        "choices": choices,
        "selected": form["answer"].value() if choices else "",
        "acknowledged": recipient.acknowledged_at is not None,
        "recipient_answer": recipient.answer,
        "answer_label": dict(choices).get(recipient.answer, recipient.answer),
        "can_change": bool(choices) and not page.deadline_passed,
    }


class _Frame:
    """A page rendered once with markers where the personal values go.

    Everything but the name, the personal text, the acknowledgement date,
    the form's address and its CSRF token is the same for everyone reading
    the same version of a campaign in one language on one day with the same
    acknowledgement state: that part is rendered once per process and the
    personal values are escaped into it for each request.
    """

    _NONCE = secrets.token_hex(8)

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts  # literal, name, literal, name, ..., literal

    @classmethod
    def marker(cls, name: str) -> str:
        # Private-use characters and a per-process nonce: nothing HTML escaping
        # changes, and nothing a campaign's text could contain by accident.
        return f"\ue000{cls._NONCE}{name}\ue001"

    @classmethod
    def build(cls, template: str, context: dict, names: list[str]) -> _Frame:
        markers = {name: cls.marker(name) for name in names}
        html = render_to_string(template, {**context, **markers})
        parts = re.split(f"\ue000{cls._NONCE}(\\w+)\ue001", html)
        return cls(parts)

    def fill(self, values: dict[str, str]) -> str:
        parts = self.parts
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            out.append(conditional_escape(values[parts[i]]))
            out.append(parts[i + 1])
        return "".join(out)


# Frames by what they depend on; the key holds every campaign field the page
# shows (read live), so an edit takes effect with the next request.
_FRAMES: dict[tuple, _Frame] = {}


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
