"""The staff file in 24 languages and many time zones, as HR writes them:
codes, regional codes and names in English, French or the language itself;
an IANA time zone per person."""

from __future__ import annotations

import io

import pytest

from employees.importing import run_import
from employees.models import Employee

pytestmark = pytest.mark.django_db

WRITTEN = {
    # code or regional code, either spelling
    "de": "de",
    "de-AT": "de",
    "pt-BR": "pt",
    "pt_br": "pt",
    "SV-fi": "sv",
    # the language's own name, any case or accent
    "Deutsch": "de",
    "polski": "pl",
    "Ελληνικά": "el",
    "български": "bg",
    "Čeština": "cs",
    "Gaeilge": "ga",
    "Malti": "mt",
    "magyar": "hu",
    # English names, with a region
    "German": "de",
    "Portuguese (Brazil)": "pt",
    "Slovenian": "sl",
    # French names
    "allemand": "de",
    "néerlandais": "nl",
    "finnois": "fi",
    "Lituanien": "lt",
}


def _file(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))


def _languages() -> dict[str, str]:
    return dict(Employee.objects.values_list("email", "language"))


def test_it_maps_codes_regional_codes_and_names_to_the_24_languages():
    rows = [f"p{i}@example.com;{written}" for i, written in enumerate(WRITTEN)]
    result = run_import(_file("email;langue\n" + "\n".join(rows) + "\n"))

    assert result.errors == [] and result.warnings == []
    expected = {f"p{i}@example.com": code for i, code in enumerate(WRITTEN.values())}
    assert _languages() == expected


def test_a_language_the_organisation_does_not_use_falls_back_with_a_warning(
    settings,
):
    settings.LANGUAGES = [("en", "English"), ("fr", "Français")]
    settings.LANGUAGE_CODE = "fr"
    result = run_import(_file("email,language\nann@example.com,Deutsch\n"))

    assert _languages() == {"ann@example.com": "fr"}
    [warning] = result.warnings
    assert (warning.line, warning.column) == (2, "language")
    assert "Deutsch" in warning.message


@pytest.mark.parametrize("header", ["time zone", "Timezone", "TZ", "Fuseau horaire"])
def test_it_reads_each_persons_time_zone(header):
    result = run_import(
        _file(
            f"email;{header}\n"
            "ann@example.com;Europe/Warsaw\n"
            "bob@example.com;europe/lisbon\n"
            "cy@example.com;\n"
        )
    )

    assert result.errors == []
    zones = dict(Employee.objects.values_list("email", "time_zone"))
    assert zones == {
        "ann@example.com": "Europe/Warsaw",
        "bob@example.com": "Europe/Lisbon",  # as the tz database spells it
        "cy@example.com": "",  # the country's or organisation's zone
    }


def test_an_unknown_time_zone_is_an_error_with_its_line_and_column():
    result = run_import(
        _file(
            "email,Time zone\n"
            "ann@example.com,Europe/Paris\n"
            "bob@example.com,Paris time\n"
            "cy@example.com,Mars/Olympus_Mons\n"
        )
    )

    assert not result.written and not Employee.objects.exists()  # nothing half-written
    assert [(e.line, e.column) for e in result.errors] == [
        (3, "Time zone"),
        (4, "Time zone"),
    ]
    assert "Paris time" in result.errors[0].message
    assert "Europe/Paris" in result.errors[0].message  # what to write instead


def test_a_time_zone_changes_on_the_next_import():
    run_import(_file("email;tz\nann@example.com;Europe/Paris\n"))
    result = run_import(_file("email;tz\nann@example.com;America/New_York\n"))

    assert result.updated == 1
    assert Employee.objects.get().time_zone == "America/New_York"
