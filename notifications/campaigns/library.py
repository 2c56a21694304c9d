"""Ready-made campaigns a DPO can start from (admin and `create_campaign`).

Each template lives in ``library_texts/<slug>/``: ``template.toml`` holds
its sources, the date its facts were checked, the suggested deadline and the
answers offered; one ``<language>.toml`` a language holds the subject, the
plain-text body, the acknowledgement page's text, the answers' labels and
its origin: ``original`` (written by the project, French and English) or
``translated`` (from those originals, to be reviewed by someone who reads
the language before a campaign goes out). TOML, read by the standard
library's ``tomllib``, keeps long texts readable for a translator, one file
each, without Python quoting.

The texts must read right on either side of the platform's own date (3
November 2025 for LinkedIn, 27 May 2025 for Meta), since a campaign may run
long after it: no future tense about that date ("LinkedIn will use…"), but
what the platform may do from it, unless each member objects. Messages link
only to our own acknowledgement page (anti-phishing: a message about privacy
settings must not carry third-party links); the page, which the employee
reaches from our own site, shows the platform's settings address in full.
CONTRIBUTING.md lists the sources too.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.languages import EU_LANGUAGES
from notifications.models import Campaign, CampaignStatus

TEXTS_DIR = Path(__file__).with_name("library_texts")
TEXT_FIELDS: tuple[str, ...] = ("subject", "body_text", "body_html", "page_text")
ORIGINS: tuple[str, ...] = ("original", "translated")

LINKEDIN_SETTINGS_URL = (
    "https://www.linkedin.com/mypreferences/d/settings/data-for-ai-improvement"
)

# The admin's names for the templates (French and English via gettext); the
# employees' texts are in the data files.
_LABELS = {
    "linkedin-ai-optout": gettext_lazy("LinkedIn — generative AI training opt-out"),
    "meta-ai-objection": gettext_lazy(
        "Meta (Facebook, Instagram) — objection to AI training"
    ),
}


@dataclass(frozen=True)
class Source:
    title: str
    url: str
    publisher: str = ""
    published: str = ""


@dataclass(frozen=True)
class CampaignTemplate:
    slug: str
    label: str
    contents: dict[str, dict[str, str]]
    asks_answer: bool = False
    answer_choices: list[dict] = field(default_factory=list)
    # Suggested deadline (local date and time in the organisation's zone).
    deadline: tuple[int, int, int, int, int] | None = None
    sources: tuple[Source, ...] = ()
    checked: date | None = None
    # Per language: "original" or "translated".
    origins: dict[str, str] = field(default_factory=dict)

    def suggested_deadline(self, tz: str) -> datetime | None:
        if not self.deadline:
            return None
        return datetime(*self.deadline, tzinfo=ZoneInfo(tz))

    def translated(self) -> list[str]:
        """Languages whose texts are translations, to be reviewed."""
        return [code for code, origin in self.origins.items() if origin != "original"]

    def contents_for(self, languages: list[str]) -> dict[str, dict[str, str]]:
        """The texts in those of ``languages`` the template has."""
        return {
            code: self.contents[code] for code in languages if code in self.contents
        }

    def answer_choices_for(self, languages: list[str]) -> list[dict]:
        """The answers with their labels in those of ``languages`` only: the
        admin edits the configured languages' labels and nothing else."""
        return [
            {
                "value": answer["value"],
                "labels": {
                    code: answer["labels"][code]
                    for code in languages
                    if code in answer["labels"]
                },
            }
            for answer in self.answer_choices
        ]


def _answers(meta: dict, texts: dict[str, dict]) -> list[dict]:
    return [
        {
            "value": answer["value"],
            "labels": {
                code: text["answers"][answer["value"]]
                for code, text in texts.items()
                if answer["value"] in text.get("answers", {})
            },
        }
        for answer in meta.get("answers", [])
    ]


def _load(folder: Path) -> CampaignTemplate:
    meta = tomllib.loads((folder / "template.toml").read_text(encoding="utf-8"))
    order = [code for code, _name in EU_LANGUAGES]
    texts = {}
    for code in order:
        path = folder / f"{code}.toml"
        if path.exists():
            texts[code] = tomllib.loads(path.read_text(encoding="utf-8"))
    deadline = meta.get("deadline")
    return CampaignTemplate(
        slug=meta["slug"],
        label=_LABELS.get(meta["slug"], meta["slug"]),
        contents={
            code: {name: text.get(name, "") for name in TEXT_FIELDS}
            for code, text in texts.items()
        },
        asks_answer=bool(meta.get("asks_answer")),
        answer_choices=_answers(meta, texts),
        deadline=(
            (
                deadline.year,
                deadline.month,
                deadline.day,
                deadline.hour,
                deadline.minute,
            )
            if deadline
            else None
        ),
        sources=tuple(Source(**source) for source in meta.get("sources", [])),
        checked=meta.get("checked"),
        origins={
            code: text.get("origin", "translated") for code, text in texts.items()
        },
    )


@cache
def _templates() -> dict[str, CampaignTemplate]:
    folders = sorted(p for p in TEXTS_DIR.iterdir() if (p / "template.toml").exists())
    loaded = [_load(folder) for folder in folders]
    return {template.slug: template for template in loaded}


TEMPLATES: dict[str, CampaignTemplate] = _templates()
LINKEDIN_AI_OPTOUT = TEMPLATES["linkedin-ai-optout"]
META_AI_OBJECTION = TEMPLATES["meta-ai-objection"]


def configured_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def template_choices() -> list[tuple[str, str]]:
    return [(t.slug, str(t.label)) for t in TEMPLATES.values()]


def _language_names(codes: list[str]) -> str:
    names = dict(EU_LANGUAGES)
    return ", ".join(f"{names.get(code, code)} ({code})" for code in codes)


def library_rows() -> list[dict]:
    """What the admin shows of each template before one is chosen: its
    sources, when they were checked, and which of the configured languages
    are originals and which translations to be reviewed."""
    configured = configured_languages()
    rows = []
    for template in TEMPLATES.values():
        offered = [code for code in configured if code in template.contents]
        translated = [c for c in offered if template.origins.get(c) != "original"]
        rows.append(
            {
                "slug": template.slug,
                "label": str(template.label),
                "sources": template.sources,
                "checked": template.checked,
                "original": _language_names(
                    [c for c in offered if c not in translated]
                ),
                "translated": _language_names(translated),
                "missing": _language_names(
                    [c for c in configured if c not in template.contents]
                ),
            }
        )
    return rows


def unreviewed_translations(campaign: Campaign) -> list[str]:
    """Languages of a draft whose current text is still the template's
    translation, word for word: nobody has had it reviewed and corrected."""
    template = TEMPLATES.get(campaign.template)
    if template is None or campaign.status != CampaignStatus.DRAFT:
        return []
    translated = set(template.translated())
    found = []
    for content in campaign.contents.filter(is_current=True).order_by("language"):
        if content.language not in translated:
            continue
        source = template.contents[content.language]
        if all(
            (getattr(content, name) or "").strip() == (source.get(name) or "").strip()
            for name in TEXT_FIELDS
        ):
            found.append(content.language)
    return found


def review_reminder(campaign: Campaign) -> str:
    """The campaign page's warning while translated texts are unreviewed."""
    languages = unreviewed_translations(campaign)
    if not languages:
        return ""
    return _(
        "The texts in %(languages)s are the ready-made template's translations "
        "of its French and English originals, unchanged: have each one reviewed "
        "by someone who reads the language before launching."
    ) % {"languages": _language_names(languages)}
