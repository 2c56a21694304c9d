from __future__ import annotations

import pytest
from django.utils import translation

from tests.services import CHECKS, require


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, (check, reason) in CHECKS.items():
        if item.get_closest_marker(marker):
            require(check(), reason)


@pytest.fixture(autouse=True)
def _english_by_default(settings):
    """Specifications read in English: a test sees English messages unless it
    switches language itself (the French catalogue has its own tests, and the
    shipped default LANGUAGE_CODE stays fr)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _directory_zones_read_afresh():
    """The scheduler keeps the directory's time zones a few minutes per
    process (campaigns/scheduling.py): each test reads its own directory."""
    from notifications.campaigns import scheduling

    scheduling._PEOPLES_ZONES[0] = 0.0
    yield
    scheduling._PEOPLES_ZONES[0] = 0.0


@pytest.fixture
def dpo(db):
    """A DPO staff user (test modules with their own kind of DPO override it)."""
    from tests.factories import dpo_make

    return dpo_make()


@pytest.fixture
def hr_admin(db):
    from tests.factories import hr_admin_make

    return hr_admin_make()


@pytest.fixture
def viewer(db):
    from tests.factories import viewer_make

    return viewer_make()


@pytest.fixture
def roles(db) -> None:
    """The DPO / HR / Viewer groups, as the migrations create them.

    A transactional test empties every table when it ends, groups included;
    a later test that needs the roles gets them back from the migrations'
    own functions, run against the migrated state."""
    import importlib

    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    if Group.objects.filter(name="DPO").exists():
        return
    state = MigrationExecutor(connection).loader.project_state().apps
    importlib.import_module("audit.migrations.0002_roles").create_roles(state, None)
    grant = importlib.import_module(
        "audit.migrations.0004_correct_acknowledgement_permission"
    )
    grant.grant(state, None)


@pytest.fixture
def fresh_link_state():
    """For the link-page tests: the rate-limit counts (in the cache) start at
    zero, and no page content cached in this process under a campaign id
    that the database reuses from one test to the next."""
    from django.core.cache import cache

    from tests.ack_helpers import forget_cached_contents

    cache.clear()
    forget_cached_contents()
    yield
    cache.clear()
