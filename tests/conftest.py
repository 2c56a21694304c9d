from __future__ import annotations

import pytest

from tests.services import CHECKS, require


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, (check, reason) in CHECKS.items():
        if item.get_closest_marker(marker):
            require(check(), reason)
