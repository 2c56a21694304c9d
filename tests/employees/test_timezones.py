"""A person's time zone: their own, else their country's or site's, else the
campaign's or the organisation's (employees/timezones.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from employees.timezones import zone_name, zone_setting_parse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def defaults(settings):
    settings.TIME_ZONE = "Europe/Paris"
    settings.EMPLOYEE_TIME_ZONES = {"PL": "Europe/Warsaw", "Lisbon": "Europe/Lisbon"}


def test_a_persons_own_zone_comes_first(defaults):
    assert zone_name(time_zone="Asia/Tokyo", country="PL") == "Asia/Tokyo"


def test_without_one_their_country_or_site_decides_whatever_its_case(defaults):
    assert zone_name(country="PL") == "Europe/Warsaw"
    assert zone_name(country=" lisbon ") == "Europe/Lisbon"


def test_an_unknown_zone_in_a_record_falls_through_instead_of_failing(defaults):
    assert zone_name(time_zone="Mars/Olympus_Mons", country="PL") == "Europe/Warsaw"
    assert zone_name(time_zone="Mars/Olympus_Mons") == "Europe/Paris"


def test_then_the_campaigns_zone_then_the_organisations(defaults):
    assert zone_name(country="Narnia", default="America/New_York") == (
        "America/New_York"
    )
    assert zone_name(country="Narnia") == "Europe/Paris"


def test_the_setting_reads_country_equals_zone_pairs():
    assert zone_setting_parse("PL=Europe/Warsaw, Lisbon = Europe/Lisbon,") == {
        "PL": "Europe/Warsaw",
        "Lisbon": "Europe/Lisbon",
    }
    assert zone_setting_parse("") == {}


@pytest.mark.parametrize("raw", ["PL", "PL=", "=Europe/Warsaw", "PL=Europe/Warsawx"])
def test_a_malformed_setting_is_refused_with_the_entry_named(raw):
    with pytest.raises(ValueError, match="EMPLOYEE_TIME_ZONES"):
        zone_setting_parse(raw)


def test_an_unknown_zone_in_the_setting_stops_start_up(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": str(tmp_path),
            "EMPLOYEE_TIME_ZONES": "PL=Europe/Varsovie",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last and "Europe/Varsovie" in last
