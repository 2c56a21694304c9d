"""The ready-made templates speak all 24 EU languages, each text valid as
the admin would require, its facts sourced and dated, its translations
marked as such. No database: these read the data files only."""

from __future__ import annotations

import re
import tomllib
from datetime import date

import pytest

from common.languages import EU_LANGUAGE_CODES
from notifications.campaigns import library
from notifications.campaigns.content import content_errors
from notifications.campaigns.library import (
    LINKEDIN_SETTINGS_URL,
    META_AI_OBJECTION,
    TEMPLATES,
    TEXTS_DIR,
)

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
SLUGS = sorted(TEMPLATES)
CASES = [(slug, code) for slug in SLUGS for code in sorted(EU_LANGUAGE_CODES)]


def test_it_offers_the_linkedin_and_meta_templates():
    assert SLUGS == ["linkedin-ai-optout", "meta-ai-objection"]


@pytest.mark.parametrize("slug", SLUGS)
def test_every_template_has_all_24_languages_and_nothing_else(slug):
    folder = TEXTS_DIR / slug
    files = {p.stem for p in folder.glob("*.toml")} - {"template"}
    assert files == EU_LANGUAGE_CODES
    assert set(TEMPLATES[slug].contents) == EU_LANGUAGE_CODES


@pytest.mark.parametrize(("slug", "code"), CASES)
def test_each_text_is_complete_and_valid_as_the_admin_requires(slug, code):
    fields = TEMPLATES[slug].contents[code]
    for name in ("subject", "body_text", "page_text"):
        assert fields[name].strip(), (slug, code, name)
    assert content_errors(fields) == {}, (slug, code)


@pytest.mark.parametrize(("slug", "code"), CASES)
def test_each_translation_keeps_the_originals_placeholders(slug, code):
    original = TEMPLATES[slug].contents["en"]
    text = TEMPLATES[slug].contents[code]
    for name in ("subject", "body_text", "page_text"):
        assert set(PLACEHOLDER.findall(text[name])) == set(
            PLACEHOLDER.findall(original[name])
        ), (slug, code, name)


@pytest.mark.parametrize(("slug", "code"), CASES)
def test_the_message_links_only_to_our_own_page(slug, code):
    """Anti-phishing: an e-mail about privacy settings carries no
    third-party link; the platform's address is on our own page."""
    body = TEMPLATES[slug].contents[code]["body_text"]
    assert "http" not in body
    assert "{{ ack_url }}" in body


@pytest.mark.parametrize(("slug", "code"), CASES)
def test_each_language_keeps_the_dated_facts(slug, code):
    fields = TEMPLATES[slug].contents[code]
    day = "3" if slug == "linkedin-ai-optout" else "27"
    address = (
        LINKEDIN_SETTINGS_URL
        if slug == "linkedin-ai-optout"
        else "https://www.facebook.com/privacy/center"
    )
    for name in ("body_text", "page_text"):
        assert "2025" in fields[name] and day in fields[name], (slug, code, name)
    assert address in fields["page_text"], (slug, code)
    if slug == "meta-ai-objection":
        assert "18" in fields["page_text"], (slug, code)  # minors are left out


@pytest.mark.parametrize("slug", SLUGS)
def test_the_originals_and_the_translations_are_marked(slug):
    origins = TEMPLATES[slug].origins
    assert origins["fr"] == origins["en"] == "original"
    assert set(TEMPLATES[slug].translated()) == EU_LANGUAGE_CODES - {"fr", "en"}
    assert set(origins.values()) <= set(library.ORIGINS)


@pytest.mark.parametrize("slug", SLUGS)
def test_every_answer_is_labelled_in_every_language(slug):
    template = TEMPLATES[slug]
    assert template.asks_answer and len(template.answer_choices) == 3
    for code in EU_LANGUAGE_CODES:
        labels = [a["labels"].get(code, "").strip() for a in template.answer_choices]
        assert all(labels), (slug, code)
        assert len(set(labels)) == len(labels), (slug, code)


@pytest.mark.parametrize("slug", SLUGS)
def test_every_template_names_its_sources_and_when_they_were_checked(slug):
    template = TEMPLATES[slug]
    meta = tomllib.loads((TEXTS_DIR / slug / "template.toml").read_text())
    assert isinstance(meta["checked"], date)
    assert date(2025, 5, 27) < template.checked <= date.today()
    assert all(source.title.strip() for source in template.sources)
    linked = [s.url for s in template.sources if s.url]
    assert len(linked) >= 3
    assert all(url.startswith("https://") for url in linked)


def test_the_meta_texts_say_what_meta_may_do_from_its_date_in_either_tense():
    """Read before or after 27 May 2025, the originals stay true."""
    fr, en = META_AI_OBJECTION.contents["fr"], META_AI_OBJECTION.contents["en"]
    assert "À compter du 27 mai 2025, Meta peut utiliser" in fr["body_text"]
    assert "From 27 May 2025, Meta may use" in en["body_text"]
    assert "À compter du 27 mai 2025, Meta entraîne" in fr["page_text"]
    assert "From 27 May 2025, Meta trains" in en["page_text"]
    future = (
        "Meta utilisera",
        "Meta va utiliser",
        "Meta commencera",
        "Meta will use",
        "Meta will start",
        "will be used",
    )
    for text in (*fr.values(), *en.values()):
        for wording in future:
            assert wording not in text, wording


def test_the_meta_texts_give_each_apps_steps_and_the_limits_of_an_objection():
    for code, needles in {
        "en": ("On Facebook:", "On Instagram:", "Accounts Centre", "not withdrawn"),
        "fr": ("Sur Facebook :", "Sur Instagram :", "Espace Comptes", "pas retiré"),
    }.items():
        body = META_AI_OBJECTION.contents[code]["body_text"]
        for needle in needles:
            assert needle in body, (code, needle)


def test_meta_suggests_no_deadline_since_its_own_date_is_past():
    assert META_AI_OBJECTION.suggested_deadline("Europe/Paris") is None
