"""Accessibility of the public pages, in headless Chromium.

axe-core (WCAG 2.0, 2.1 and 2.2, levels A and AA) finds no violation on any
page a person can meet from a personal link or a message: the link page in
each configured language (French and English with its question), a refused
form, the confirmation and the "already acknowledged" page, the dead-link,
404, 429, CSRF-failure and 500 pages, and /verify/. The link page is also used with the keyboard alone and
JavaScript turned off (every control reached in reading order, each with a
visible focus indicator), read on a phone without scrolling sideways, and in
forced colours (Windows high contrast). No page loads anything from another
site.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from notifications.acknowledgements.throttle import WINDOW_SECONDS
from notifications.campaigns import services
from notifications.models import CampaignStatus
from tests.ack_helpers import forget_cached_contents, launched, link
from tests.services import chromium_launch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_link_state"),
]

WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
LOCALES = {"fr": "fr-FR", "en": "en-GB"}  # else the language code itself
UNKNOWN_LINK = "/a/" + "A" * 43 + "/"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One browser for the module; each test opens its own contexts."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # of the tests themselves are still plain synchronous code.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as p:
            browser = chromium_launch(p)
            yield browser
            browser.close()


class Visit:
    """A browser context on the live server that notes every request."""

    def __init__(self, browser, base_url: str, **options) -> None:
        self.base_url = base_url
        self.context = browser.new_context(base_url=base_url, **options)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))

    def elsewhere(self) -> list[str]:
        """The requests that went to another site (a third-party resource)."""
        own = (self.base_url + "/", "about:", "data:")
        return [url for url in self.requests if not url.startswith(own)]


@pytest.fixture
def visit(chromium, live_server):
    """visit(lang="en", **context options) -> Visit, a browser context in
    that language; when the test ends, no page has left the site."""
    opened: list[Visit] = []

    def make(lang: str = "en", **options) -> Visit:
        options.setdefault("locale", LOCALES.get(lang, lang))
        opened.append(Visit(chromium, live_server.url, **options))
        return opened[-1]

    yield make
    for one in opened:
        one.context.close()
        assert one.elsewhere() == [], "a page loaded a third-party resource"


def _report(violations: list[dict]) -> str:
    lines = [f"{len(violations)} accessibility violation(s):"]
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']}"
            f" <{violation['helpUrl']}>"
        )
        for node in violation["nodes"]:
            lines.append(f"    {node['html']}")
            for detail in (node.get("failureSummary") or "").splitlines():
                lines.append(f"      {detail}")
    return "\n".join(lines)


def assert_accessible(page, *, lang: str) -> None:
    """The page is in ``lang`` and axe-core finds no WCAG A/AA violation."""
    from axe_playwright_python.sync_playwright import Axe

    assert page.get_attribute("html", "lang") == lang
    options = {
        "runOnly": {"type": "tag", "values": WCAG_A_AA},
        "resultTypes": ["violations"],
    }
    violations = Axe().run(page, options=options).response["violations"]
    if violations:  # pytest.fail: the whole report, never truncated
        pytest.fail(f"{page.url}\n{_report(violations)}")


def _link(language: str = "en") -> tuple[object, object, str]:
    """A launched campaign that asks a question, its recipient, their link."""
    campaign, [recipient] = launched(language=language)
    assert campaign.asks_answer and len(campaign.answer_choices) >= 2
    return campaign, recipient, link(recipient)


def test_axe_reports_a_violation_with_what_to_fix(visit):
    page = visit().page
    page.set_content('<html lang="en"><title>t</title><input name="x"></html>')
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_accessible(page, lang="en")
    assert "label (critical): Form elements must have labels" in str(failed.value)
    assert '<input name="x">' in str(failed.value)


def test_a_request_to_another_site_is_noticed(visit):
    one = visit()
    one.context.route("http://203.0.113.7/**", lambda route: route.abort())
    one.page.set_content('<img src="http://203.0.113.7/pixel.png" alt="">')
    assert one.elsewhere() == ["http://203.0.113.7/pixel.png"]
    one.requests.clear()


# --- axe-core on every page --------------------------------------------------


@pytest.mark.parametrize(
    ("language", "query", "lang"),
    [("fr", "", "fr"), ("fr", "?lang=en", "en"), ("en", "?lang=fr", "fr")],
)
def test_the_link_page_has_no_violation(visit, language, query, lang):
    _campaign, _recipient, url = _link(language)
    page = visit(lang).page
    assert page.goto(url + query).status == 200
    assert page.locator("input[type=radio]").count() >= 2  # the question
    assert page.locator("#result").count() == 0  # not acknowledged yet
    assert_accessible(page, lang=lang)


def test_the_link_page_has_no_violation_in_any_language(visit):
    """One page load per configured language, in one browser page: the
    page's own strings (deadline, form, footer, language menu) in each."""
    campaign, _recipient, url = _link("en")
    english = campaign.contents.get(language="en", is_current=True)
    for code, _name in settings.LANGUAGES:
        if not campaign.contents.filter(language=code, is_current=True).exists():
            services.content_save(
                campaign=campaign,
                language=code,
                fields={
                    "subject": english.subject,
                    "body_text": english.body_text,
                    "body_html": "",
                    "page_text": english.page_text,
                },
            )
    forget_cached_contents()
    page = visit().page
    for code, _name in settings.LANGUAGES:
        assert page.goto(f"{url}?lang={code}").status == 200
        assert_accessible(page, lang=code)


def test_the_pages_after_acknowledging_have_no_violation(visit):
    campaign, recipient, url = _link("fr")
    # A required answer: both error messages show (the box and the answer).
    type(campaign).objects.filter(pk=campaign.pk).update(answer_required=True)
    page = visit().page
    page.goto(url + "?lang=en")
    page.get_by_role("button", name="I acknowledge").click()  # nothing chosen
    assert page.locator("[role=alert]").count() == 2
    assert_accessible(page, lang="en")  # the refused form, errors shown

    page.get_by_role("radio").first.check()
    page.get_by_label("I have read this information.").check()
    page.get_by_role("button", name="I acknowledge").click()
    assert "your acknowledgement is recorded" in page.text_content("#result")
    assert_accessible(page, lang="en")  # the confirmation

    page.goto(url)  # a later visit, in French: already acknowledged
    assert "déjà enregistrée" in page.text_content("#result")
    assert page.get_by_role("group", name="Modifier votre réponse").is_visible()
    assert_accessible(page, lang="fr")
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is not None


def test_the_page_for_a_form_sent_without_cookies_has_no_violation(visit):
    _campaign, recipient, url = _link("en")
    one = visit()
    page = one.page
    page.goto(url)
    one.context.clear_cookies()  # blocked, or lost since the page was opened
    page.get_by_role("radio").first.check()
    page.get_by_label("I have read this information.").check()
    with page.expect_navigation() as sent:
        page.get_by_role("button", name="I acknowledge").click()
    assert sent.value.status == 403
    assert_accessible(page, lang="en")
    recipient.refresh_from_db()
    assert recipient.acknowledged_at is None


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_not_found_pages_have_no_violation(visit, lang):
    page = visit(lang).page
    for path in (UNKNOWN_LINK, "/no/such/page/"):
        assert page.goto(path).status == 404
        assert_accessible(page, lang=lang)


def test_the_too_many_attempts_page_has_no_violation(visit, settings):
    settings.ACK_RATE_LIMIT_FAILURES = 1
    if WINDOW_SECONDS - time.time() % WINDOW_SECONDS < 3:
        time.sleep(3)  # both requests in the same rate-limit window
    page = visit("fr").page
    assert page.goto(UNKNOWN_LINK).status == 404
    assert page.goto(UNKNOWN_LINK).status == 429
    assert_accessible(page, lang="fr")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_verify_page_has_no_violation(visit, lang):
    campaign, _recipient, _url = _link(lang)
    page = visit(lang).page
    page.goto("/verify/")
    assert_accessible(page, lang=lang)
    field = page.locator("input[name=reference]")
    for reference in (campaign.reference, "NOTOURS1"):
        field.fill(reference)
        field.press("Enter")
        page.wait_for_selector("#verdict")
        assert_accessible(page, lang=lang)
        field = page.locator("input[name=reference]")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_verify_page_says_what_is_missing(visit, lang):
    """Sent empty, the form says so next to the field (it showed nothing)."""
    page = visit(lang).page
    page.goto("/verify/")
    page.locator("input[name=reference]").press("Enter")
    page.wait_for_url("**/verify/?reference=")
    field = page.locator("input[name=reference]")
    assert field.get_attribute("aria-invalid") == "true"
    error = page.locator("#reference-errors")
    assert error.get_attribute("role") == "alert"
    assert "reference-errors" in field.get_attribute("aria-describedby").split()
    expected = {"fr": "Ce champ est obligatoire.", "en": "This field is required."}
    assert error.text_content().strip() == expected[lang]
    assert page.locator("#verdict").count() == 0
    assert_accessible(page, lang=lang)


@pytest.mark.parametrize(("state", "lang"), [("cancelled", "fr"), ("expired", "en")])
def test_the_dead_link_page_has_no_violation(visit, state, lang):
    campaign, _recipient, url = _link(lang)
    if state == "cancelled":
        services.campaign_cancel(campaign=campaign)
    else:
        long_ago = timezone.now() - timedelta(days=365)
        campaign.status = CampaignStatus.FINISHED
        campaign.deadline = campaign.finished_at = long_ago
        campaign.save()
    page = visit(lang).page
    assert page.goto(url).status == 410
    assert_accessible(page, lang=lang)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_server_error_page_has_no_violation(visit, lang):
    with translation.override(lang):
        html = render_to_string("500.html")
    page = visit(lang).page
    page.set_content(html)
    assert_accessible(page, lang=lang)


# --- a phone, forced colours --------------------------------------------------


@pytest.mark.parametrize("size", [(375, 667), (320, 568)])
def test_the_link_page_fits_a_phone(visit, size):
    width, height = size
    _campaign, _recipient, url = _link("fr")
    page = visit(
        "fr",
        viewport={"width": width, "height": height},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ).page
    page.goto(url)
    scroll, client = page.evaluate(
        "() => [document.scrollingElement.scrollWidth,"
        " document.scrollingElement.clientWidth]"
    )
    assert scroll <= client, f"the page scrolls sideways: {scroll} > {client}"
    button = page.get_by_role("button", name="Je confirme avoir pris connaissance")
    button.scroll_into_view_if_needed()
    assert button.is_visible()
    box = button.bounding_box()
    assert 0 <= box["x"] and box["x"] + box["width"] <= width
    assert 0 <= box["y"] and box["y"] + box["height"] <= height
    assert box["height"] >= 44  # a finger's width
    assert_accessible(page, lang="fr")


def test_the_button_keeps_its_outline_in_forced_colours(visit):
    """Windows high contrast drops background colours: the button needs a
    border of its own to still look like one."""
    _campaign, _recipient, url = _link("en")
    page = visit(forced_colors="active").page
    page.goto(url)
    assert page.evaluate("() => matchMedia('(forced-colors: active)').matches")
    style, width = page.eval_on_selector(
        "button[type=submit]",
        "b => [getComputedStyle(b).borderTopStyle,"
        " parseFloat(getComputedStyle(b).borderTopWidth)]",
    )
    assert style != "none" and width >= 1


# --- the keyboard alone, without JavaScript ----------------------------------

_KEY = "el => el.id || el.getAttribute('href') || el.name || el.tagName"

_RING = """el => {
  const style = getComputedStyle(el);
  return [style.outlineStyle, style.outlineWidth, style.outlineColor,
          style.boxShadow].join(' ');
}"""

_FOCUSED = f"""() => {{
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {{
    key: ({_KEY})(el),
    html: el.outerHTML.slice(0, 100),
    ring: ({_RING})(el),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
    shadow: style.boxShadow !== 'none',
    top: Math.round(box.top + window.scrollY),
    left: Math.round(box.left + window.scrollX),
  }};
}}"""

# What Tab should stop at, in document order (one stop per radio group, the
# first radio while none is chosen), with each one's look when not focused.
_TAB_STOPS = f"""() => {{
  const seen = new Set();
  const stops = [];
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]';
  for (const el of document.querySelectorAll(selector)) {{
    if (el.disabled || el.tabIndex < 0 || !el.getClientRects().length) continue;
    if (el.type === 'radio') {{
      if (seen.has(el.name)) continue;
      seen.add(el.name);
    }}
    stops.push([({_KEY})(el), ({_RING})(el)]);
  }}
  return stops;
}}"""


def _focused(page) -> dict | None:
    return page.evaluate(_FOCUSED)


def _tab_to(page, key: str) -> None:
    for _ in range(30):
        page.keyboard.press("Tab")
        if (_focused(page) or {}).get("key") == key:
            return
    raise AssertionError(f"Tab never reached {key}")


def _tab_stops(page) -> list[dict]:
    """Every element Tab stops at, from the top of the page until focus
    leaves it."""
    stops: list[dict] = []
    for _ in range(50):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if focused is None:
            return stops
        stops.append(focused)
    raise AssertionError("Tab never left the page")


def test_every_control_is_reached_in_reading_order_with_a_visible_focus(visit):
    _campaign, _recipient, url = _link("en")
    page = visit(java_script_enabled=False).page
    page.goto(url)
    expected = page.evaluate(_TAB_STOPS)
    resting = dict(expected)

    stops = _tab_stops(page)
    keys = [stop["key"] for stop in stops]
    assert keys == [key for key, _ring in expected]  # nothing skipped or reordered
    assert keys.index("id_answer_0") < keys.index("id_confirm") < keys.index("BUTTON")
    for before, after in itertools.pairwise(stops):
        same_line = abs(after["top"] - before["top"]) <= 4
        ahead = (
            after["left"] > before["left"]
            if same_line
            else after["top"] > before["top"]
        )
        assert ahead, f"Tab goes from {before['html']} back to {after['html']}"
    unseen = [
        stop["html"]
        for stop in stops
        if not (stop["outline"] or stop["shadow"])
        or stop["ring"] == resting[stop["key"]]
    ]
    assert unseen == [], "no visible focus indicator on these"
    # From past the last one, Shift+Tab walks the same stops backwards.
    back = []
    for _ in stops:
        page.keyboard.press("Shift+Tab")
        back.append(_focused(page)["key"])
    assert back == keys[::-1]


def test_it_acknowledges_with_the_keyboard_alone_without_javascript(visit):
    campaign, recipient, url = _link("en")
    page = visit(java_script_enabled=False).page
    page.goto(url)
    assert page.locator("script").count() == 0  # the page has none to run

    _tab_to(page, "id_answer_0")
    page.keyboard.press("Space")
    assert page.is_checked("#id_answer_0")
    page.keyboard.press("ArrowDown")  # the next answer of the group
    assert _focused(page)["key"] == "id_answer_1"
    assert page.is_checked("#id_answer_1")
    page.keyboard.press("Tab")
    assert _focused(page)["key"] == "id_confirm"
    page.keyboard.press("Space")
    assert page.is_checked("#id_confirm")
    page.keyboard.press("Shift+Tab")
    assert _focused(page)["key"] == "id_answer_1"  # back to the chosen answer
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert _focused(page)["key"] == "BUTTON"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "your acknowledgement is recorded" in page.text_content("#result")

    recipient.refresh_from_db()
    assert recipient.acknowledged_at is not None
    assert recipient.answer == campaign.answer_choices[1]["value"]
