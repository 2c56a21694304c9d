"""The directory pull's settings: the attribute map and the beat schedule,
read at start-up so that a typo stops the start with the variable's name."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from directory.ldap.attributes import DEFAULT_ATTRIBUTES, attribute_map
from directory.ldap.schedule import beat_entries


def test_the_default_map_reads_both_openldap_and_active_directory():
    assert attribute_map("") == DEFAULT_ATTRIBUTES
    assert DEFAULT_ATTRIBUTES["department"] == ("department", "departmentNumber")
    assert DEFAULT_ATTRIBUTES["hr_id"] == ("employeeNumber", "employeeID")
    assert DEFAULT_ATTRIBUTES["country"] == ("co", "c", "l")


def test_a_map_replaces_only_the_fields_it_names():
    mapped = attribute_map("hr_id = employeeID; country=c,l\nlanguage=")

    assert mapped["hr_id"] == ("employeeID",)
    assert mapped["country"] == ("c", "l")
    assert mapped["language"] == ()
    assert mapped["email"] == ("mail",)


@pytest.mark.parametrize(
    "raw", ["salary=employeeSalary", "hr_id", "email=", "department=dept name"]
)
def test_a_wrong_map_is_refused_with_the_reason(raw):
    with pytest.raises(ValueError):
        attribute_map(raw)


def test_the_scheduled_sync_is_off_unless_a_schedule_is_set():
    from config.celery import app

    assert beat_entries("") == {} and beat_entries("off") == {}
    assert "directory-ldap-sync" not in app.conf.beat_schedule


def test_a_schedule_is_seconds_or_a_crontab():
    hourly = beat_entries("3600")["directory-ldap-sync"]
    nightly = beat_entries("15 2 * * *")["directory-ldap-sync"]

    assert hourly["task"] == "directory.ldap_sync"
    assert hourly["schedule"].run_every.total_seconds() == 3600
    assert isinstance(nightly["schedule"], crontab)
    assert nightly["schedule"].hour == {2} and nightly["schedule"].minute == {15}


@pytest.mark.parametrize("raw", ["hourly", "30", "1 2 3", "99 2 * * *"])
def test_a_wrong_schedule_stops_the_start(raw):
    with pytest.raises(ImproperlyConfigured, match="DIRECTORY_SYNC_SCHEDULE"):
        beat_entries(raw)
