from __future__ import annotations

import pytest

from tests.api.helpers import client_for


@pytest.fixture
def hr(roles):
    """A client with an HR key."""
    return client_for("HR")
