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
