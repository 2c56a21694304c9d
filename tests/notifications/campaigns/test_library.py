"""The ready-made LinkedIn texts read right before and after LinkedIn's own
date (3 November 2025), and keep the facts an employee acts on."""

from __future__ import annotations

import pytest

from notifications.campaigns.library import LINKEDIN_AI_OPTOUT

TEXTS = LINKEDIN_AI_OPTOUT.contents
FUTURE_ABOUT_THE_DATE = (
    "À partir du 3 novembre 2025, LinkedIn utilisera",
    "utilisera les données",
    "vos données seront utilisées",
    "Ce qui sera utilisé",
    "à partir du 3 novembre :",
    "From 3 November 2025, LinkedIn will",
    "will use the data",
    "your data will be used",
    "What will be used",
    "from 3 November:",
)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_it_makes_no_future_tense_claim_about_the_past_date(language):
    for name, text in TEXTS[language].items():
        for wording in FUTURE_ABOUT_THE_DATE:
            assert wording not in text, (language, name, wording)


def test_it_says_what_linkedin_may_do_from_its_date_unless_one_objects():
    fr, en = TEXTS["fr"], TEXTS["en"]
    assert "À compter du 3 novembre 2025, LinkedIn peut utiliser" in fr["body_text"]
    assert "sauf si chacun s'y oppose" in fr["body_text"]
    assert "À compter du 3 novembre 2025, LinkedIn entraîne" in fr["page_text"]
    assert "sauf si chacun s'y oppose" in fr["page_text"]
    assert "From 3 November 2025, LinkedIn may use" in en["body_text"]
    assert "unless they object" in en["body_text"]
    assert "From 3 November 2025, LinkedIn trains" in en["page_text"]
    assert "unless each of them objects" in en["page_text"]
    assert "si vous ne vous y opposez pas" in fr["subject"]
    assert "unless you object" in en["subject"]


def test_it_keeps_the_settings_path_and_that_opting_out_does_not_undo_the_past():
    fr, en = TEXTS["fr"], TEXTS["en"]
    assert (
        "Confidentialité des données > Données pour l'amélioration de l'IA générative"
        in fr["page_text"]
    )
    assert (
        "Settings & Privacy > Data privacy > Data for Generative AI Improvement"
        in (en["page_text"])
    )
    assert "se désinscrire n'efface rien de ce qui a déjà servi" in fr["body_text"]
    assert (
        "opting out does not undo any training that has already happened"
        in (en["body_text"])
    )
    assert "data already used for training is not removed" in en["page_text"]
