from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_it_redirects_root_to_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
