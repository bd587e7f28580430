"""Every response carries the policy headers web/policy.py defines, and only it spells them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import REPO

from feedsvc.web import policy

NAVIGATION = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}
POLICY_HEADERS = {
    "allow", "cache-control", "content-security-policy", "referrer-policy", "vary",
    "x-content-type-options", "x-frame-options",
}  # fmt: skip


def carries(response, headers: policy.Headers) -> list[str]:
    """The policy headers the response lacks or spells differently."""
    return [f"{n}: {response.headers.get(n)!r} != {v!r}" for n, v in headers
            if response.headers.get(n) != v]  # fmt: skip


def test_feed_responses_carry_the_feed_policy(client):
    ok = client.get("/tags/china/atom.xml")
    assert not carries(ok, [*policy.feed(300), *policy.NOSNIFF])
    again = client.get("/tags/china/atom.xml", headers={"If-None-Match": ok.headers["ETag"]})
    assert again.status_code == 304 and not carries(again, policy.feed(300))
    page = client.get("/tags/china/atom.xml", headers=NAVIGATION)
    assert not carries(page, policy.feed_page(len(page.data)))
    assert "X-Frame-Options" not in page.headers  # frame-ancestors 'none' in its CSP says it


@pytest.mark.parametrize("path", ["/", "/tags/", "/tags/china/"])
def test_pages_carry_the_page_policy(client, path):
    page = client.get(path)
    assert not carries(page, [*policy.EVERY_RESPONSE, *policy.PAGE, *policy.shared_cache(300)])
    assert not carries(client.get(path, headers={"If-None-Match": page.headers["ETag"]}),
                       [*policy.EVERY_RESPONSE, *policy.PAGE])  # fmt: skip


@pytest.mark.parametrize("path", ["/", "/tags/", "/tags/china/", "/feeds.opml", "/embed/"])
def test_cached_pages_carry_the_cached_page_policy_on_200_and_304(client, path):
    page = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert not carries(page, policy.page(300))
    again = client.get(
        path, headers={"Accept-Encoding": "gzip", "If-None-Match": page.headers["ETag"]}
    )
    assert again.status_code == 304 and not carries(again, policy.page(300))


def test_only_the_embed_may_be_framed(client):
    embed = client.get("/embed/popular/")
    assert not carries(embed, [*policy.EVERY_RESPONSE, *policy.EMBED])
    assert "X-Frame-Options" not in embed.headers


@pytest.mark.parametrize(
    ("method", "path", "status", "extra"),
    [
        ("GET", "/feeds.opml", 200, policy.shared_cache(300)),
        ("GET", "/healthz", 200, policy.UNCACHED),
        ("GET", "/metrics", 200, policy.UNCACHED),
        ("GET", "/nope", 404, []),
        ("GET", "/embed/?theme=neon", 400, []),
        ("PUT", "/feeds.opml", 405, policy.ALLOW),
        ("POST", "/rss.xml", 405, policy.ALLOW),  # answered by the fast path
        ("GET", "/tags/NorthKorea/", 308, policy.shared_cache(300)),
    ],
)
def test_other_answers_carry_cors_and_nosniff(client, method, path, status, extra):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert not carries(response, [*policy.EVERY_RESPONSE, *extra])
    assert "Content-Security-Policy" not in response.headers  # not HTML


@pytest.mark.parametrize("path", ["/rss.xml", "/", "/tags/health/", "*"])
def test_preflight_answers_are_the_policy_preflight(client, path):
    asked = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-a, x-b"}
    response = client.open(path, method="OPTIONS", headers=asked)
    assert response.status_code == 204
    # Werkzeug drops Content-Length from a 204 (it has no body either way).
    expected = [(n, v) for n, v in policy.preflight("x-a, x-b") if n != "Content-Length"]
    assert not carries(response, expected)
    hostile = policy.preflight("<script>")
    assert (
        dict(hostile)["Access-Control-Allow-Headers"]
        == "If-None-Match, If-Modified-Since, Cache-Control"
    )


def test_no_module_but_policy_spells_a_policy_header():
    offenders = []
    for path in sorted((REPO / "feedsvc").rglob("*.py")):
        if path == REPO / "feedsvc" / "web" / "policy.py":
            continue
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value.lower()
                if name in POLICY_HEADERS or name.startswith("access-control-"):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value}")
    assert not offenders, offenders
