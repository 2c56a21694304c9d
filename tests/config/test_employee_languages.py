"""What an employee receives in each of the 24 languages: the page behind
their link and their e-mail are in their language, say so (Content-Language,
<html lang>), and the e-mail's Subject decodes without a leading space."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone, translation

from notifications.campaigns import services
from notifications.models import Recipient
from tests.ack_helpers import forget_cached_contents, link
from tests.campaign_factories import EmployeeFactory, campaign_make
from tests.notifications.delivery.test_sending import send_all, tick

pytestmark = pytest.mark.django_db

FOOTER = "We will never ask for your password or any login."
# Subjects long enough to be folded, in scripts and accents of the Union.
SUBJECTS = {
    "de": "Bitte widersprechen Sie dem Training der generativen KI bei LinkedIn "
    "vor Ablauf der Frist: es dauert zwei Minuten",
    "pl": "Zgłoś sprzeciw wobec trenowania generatywnej sztucznej inteligencji "
    "LinkedIn przed upływem terminu, zajmie to dwie minuty",
    "el": "Αντιταχθείτε στην εκπαίδευση της γενετικής τεχνητής νοημοσύνης του "
    "LinkedIn πριν από την προθεσμία",
    "bg": "Моля, възразете срещу обучението на генеративния изкуствен интелект "
    "на LinkedIn преди крайния срок",
    "mt": "Jekk jogħġbok oġġezzjona għat-taħriġ tal-IA ġenerattiva ta' LinkedIn "
    "qabel l-iskadenza",
}


def _campaign_in(*languages: str):
    """A campaign with text in each of ``languages`` (and the default one),
    launched to one employee per language."""
    forget_cached_contents()
    for language in languages:
        EmployeeFactory(email=f"{language}@example.com", language=language)
    campaign = campaign_make(
        name=f"Languages {'-'.join(languages)}",
        template="",
        deadline=timezone.now() + timedelta(days=10),
        window=services.WindowSpec(enabled=False),
    )
    for language in {settings.LANGUAGE_CODE, *languages}:
        services.content_save(
            campaign=campaign,
            language=language,
            fields={
                "subject": SUBJECTS.get(language, f"Information ({language})"),
                "body_text": "{{ first_name }}: {{ deadline }}\n\n{{ ack_url }}\n",
                "body_html": "",
                "page_text": f"Text in {language}. {{{{ deadline }}}}",
            },
        )
    services.campaign_launch(campaign=campaign, now=timezone.now())
    return campaign


def _in(language: str, text: str) -> str:
    with translation.override(language):
        return translation.gettext(text)


@pytest.mark.parametrize("language", [code for code, _ in settings.LANGUAGES])
def test_the_page_is_in_the_employees_language_and_says_so(client, language):
    campaign = _campaign_in(language)
    recipient = Recipient.objects.get(campaign=campaign, employee__language=language)

    response = client.get(link(recipient))

    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == language
    assert f'<html lang="{language}">' in page
    assert f"Text in {language}." in page
    footer = _in(language, FOOTER)
    assert language == "en" or footer != FOOTER, f"footer untranslated in {language}"
    assert footer in page.replace("&#x27;", "'")


@pytest.mark.django_db(transaction=True)
def test_each_mail_carries_its_language_and_an_unspaced_subject(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _campaign_in(*SUBJECTS)

    send_all(tick()[1])

    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        f"{language}@example.com" for language in SUBJECTS
    )
    for email in mail.outbox:
        language = email.to[0].split("@")[0]
        raw = email.message().as_bytes(linesep="\r\n")
        msg = message_from_bytes(raw, policy=policy.default)
        assert msg["Content-Language"] == language
        # The first line of the header holds text: nothing decodes as a space.
        assert re.search(rb"\r\nSubject: \S", raw), raw[:400]
        assert str(msg["Subject"]) == SUBJECTS[language]
        text = msg.get_body(("plain",)).get_content()
        assert _in(language, FOOTER) in text
        html = msg.get_body(("html",)).get_content()
        assert f'<html lang="{language}"' in html
