"""web/embed.py: the embed's query values are checked, never crash (Flask test client)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize(
    "limit", ["%C2%B2", "%D9%A2", "%EF%BC%92", "9" * 5000, "0", "51", "-1", "", "1.0", "%FF"]
)
def test_a_limit_that_is_not_an_ascii_number_in_range_is_a_400(client: Any, limit: str):
    response = client.get(f"/embed/?limit={limit}")
    assert response.status_code == 400
    assert b"limit must be a whole number" in response.data


def test_a_limit_in_range_shows_that_many_headlines(client: Any):
    assert client.get("/embed/?limit=2").status_code == 200
    assert client.get("/embed/?limit=02&theme=dark").status_code == 200


@pytest.mark.parametrize("theme", ["%FF", "x" * 5000, "dark%00", "DARK"])
def test_an_unknown_theme_is_a_400(client: Any, theme: str):
    assert client.get(f"/embed/?theme={theme}").status_code == 400
