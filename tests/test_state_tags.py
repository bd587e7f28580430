"""Tag feeds never break (issue 12 item 5), through the real app and a real state folder.

A tag that was served keeps answering 200 with a valid, empty feed once its
last article goes, stays in the OPML and the tag list (marked empty), and is
remembered across a new service on the same state folder. ``site.yaml``
``tag_redirects`` answer 308 and ``retired_tags`` 410 for every URL of the
tag; bad rules are reported with the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from feedcheck import parse_feed
from support import SITE, write_yaml

from feedsvc.content.site import parse_site_settings

FORMATS = {"rss.xml": "rss", "atom.xml": "atom", "feed.json": "json"}


def _reload(app: Any) -> None:
    assert app.extensions["feedsvc"].reload(force=True)


def test_a_tag_whose_last_article_is_deleted_keeps_a_valid_empty_feed(
    make_app, small_content: Path, tmp_path: Path
):
    state = str(tmp_path / "state")
    app = make_app(small_content, state_dir=state)
    client = app.test_client()
    assert len(parse_feed(client.get("/tags/health/atom.xml").data, "atom").entries) == 1
    (small_content / "articles" / "gamma.yaml").unlink()
    _reload(app)
    for filename, fmt in FORMATS.items():
        response = client.get(f"/tags/health/{filename}")
        assert response.status_code == 200, filename
        feed = parse_feed(response.data, fmt)
        assert feed.entries == [] and "Health" in feed.title
    assert b"/tags/health/rss.xml" in client.get("/feeds.opml").data
    page = client.get("/tags/health/")
    assert page.status_code == 200 and b"Health" in page.data
    assert b"No article has this tag now" in page.data
    listing = client.get("/tags/").data.decode()
    assert "Health" in listing and "no articles now" in listing

    # A new service on the same state folder (a restart) still serves it.
    again = make_app(small_content, state_dir=state).test_client()
    assert again.get("/tags/health/rss.xml").status_code == 200
    assert b"/tags/health/rss.xml" in again.get("/feeds.opml").data
    # Without the state, the tag is unknown, as before.
    assert make_app(small_content).test_client().get("/tags/health/rss.xml").status_code == 404


def test_a_tag_that_comes_back_is_served_with_its_articles_again(make_app, small_content: Path):
    app = make_app(small_content)
    gamma = small_content / "articles" / "gamma.yaml"
    text = gamma.read_text()
    gamma.unlink()
    _reload(app)
    gamma.write_text(text)
    _reload(app)
    feed = parse_feed(app.test_client().get("/tags/health/feed.json").data, "json")
    assert [entry.title for entry in feed.entries] == ["Gamma"]


def _site_with(content: Path, **rules: Any) -> None:
    write_yaml(content / "site.yaml", {**SITE, **rules})


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/tags/health/rss.xml", "/tags/china/rss.xml"),
        ("/tags/health/atom.xml", "/tags/china/atom.xml"),
        ("/tags/health/feed.json", "/tags/china/feed.json"),
        ("/tags/Health/", "/tags/china/"),
        ("/tags/health", "/tags/china/"),
        ("/tags/health+north-korea/rss.xml", "/tags/china+north-korea/rss.xml"),
        ("/embed/tags/health/", "/embed/tags/china/"),
        ("/tags/health/page/3/atom.xml", "/tags/china/page/3/atom.xml"),  # new tag: no page 3
    ],
)
def test_a_redirected_tag_answers_308_to_the_same_url_of_the_new_tag(
    make_app, small_content: Path, old: str, new: str
):
    _site_with(small_content, tag_redirects={"Health": "China"})
    client = make_app(small_content).test_client()
    for method in (client.get, client.head):
        response = method(old)
        assert response.status_code == 308, (old, response.data)
        assert response.headers["Location"] == new  # relative, as every redirect here
    assert client.get(new).status_code == (404 if "/page/" in new else 200)  # no page 3 there
    assert b"/tags/health/" not in client.get("/feeds.opml").data


@pytest.mark.parametrize(
    "path",
    ["/tags/health/rss.xml", "/tags/health/atom.xml", "/tags/health/feed.json", "/tags/health/",
     "/tags/HEALTH/page/2/rss.xml", "/tags/china+health/atom.xml", "/embed/tags/health/"],
)  # fmt: skip
def test_a_retired_tag_answers_410_gone_everywhere(make_app, small_content: Path, path: str):
    _site_with(small_content, retired_tags=["Health"])
    client = make_app(small_content).test_client()
    response = client.get(path)
    assert response.status_code == 410, (path, response.data)
    assert response.data.startswith(b"410 Gone")
    assert client.head(path).status_code == 410
    assert b"/tags/health/" not in client.get("/feeds.opml").data
    assert client.get("/tags/china/rss.xml").status_code == 200


def test_tag_rules_are_checked_with_the_file_and_line(make_app, small_content: Path):
    site_file = small_content / "site.yaml"
    _site_with(
        small_content,
        tag_redirects={"a": "b", "b": "c", "x": "y", "y": "x", "same": "Same", "gone": "z"},
        retired_tags=["gone", "z-2", ["not", "a", "tag"]],
    )
    app = make_app(small_content)  # bad rules never stop the service
    problems = [str(p) for p in app.extensions["feedsvc"].catalog.snapshot.problems]
    line = next(n for n, text in enumerate(site_file.read_text().splitlines(), 1)
                if text.startswith("tag_redirects"))  # fmt: skip
    where = f"content/site.yaml:{line}"
    assert (
        f"{where}: tag_redirects.a: points to b, which is itself redirected: "
        "a chain; point it at c directly" in problems
    )
    assert f"{where}: tag_redirects.x: points to y, which is itself redirected: a cycle" in problems
    assert f"{where}: tag_redirects.same: redirects the tag to itself (same)" in problems
    assert f"{where}: tag_redirects.gone: is also in retired_tags: choose one" in problems
    assert any(p.endswith("retired_tags[2]: names no tag: ['not', 'a', 'tag']") for p in problems)
    site = app.extensions["feedsvc"].catalog.snapshot.site
    assert site.redirects == {"b": "c"} and site.retired_tags == ("gone", "z-2")


def test_popular_min_views_setting():
    site, problems = parse_site_settings({**SITE, "popular": {"min_views": 100}}, "site.yaml")
    assert site is not None and site.popular_min_views == 100 and not problems
    site, _ = parse_site_settings(SITE, "site.yaml")
    assert site is not None and site.popular_min_views == 1
    _, problems = parse_site_settings({**SITE, "popular": {"min_views": -1}}, "site.yaml")
    assert [str(p) for p in problems] == [
        "site.yaml: popular.min_views: must be a whole number >= 0, got -1"
    ]


def test_the_popular_feed_lists_only_articles_with_enough_views(make_app, small_content: Path):
    client = make_app(small_content).test_client()
    titles = [e.title for e in parse_feed(client.get("/popular/atom.xml").data, "atom").entries]
    assert titles == ["Beta", "Alpha", "Gamma"]  # 500, 50, 5 views
    _site_with(small_content, popular={"items": 5, "min_views": 50})
    client = make_app(small_content).test_client()
    titles = [e.title for e in parse_feed(client.get("/popular/atom.xml").data, "atom").entries]
    assert titles == ["Beta", "Alpha"]


def test_check_warns_about_tag_rules_an_editor_may_not_mean(
    small_content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from feedsvc.cli import check_report

    monkeypatch.setenv("FEEDSVC_STATE_DIR", str(tmp_path / "state"))
    _site_with(small_content, tag_redirects={"Health": "Nowhere"}, retired_tags=["China"])
    code, _, problems = check_report(str(small_content))
    assert code == 0  # warnings alone pass
    shown = [str(p) for p in problems]
    lines = (small_content / "site.yaml").read_text().splitlines()
    redirects = 1 + next(i for i, text in enumerate(lines) if text.startswith("tag_redirects:"))
    retired = 1 + next(i for i, text in enumerate(lines) if text.startswith("retired_tags:"))
    site = f"{small_content}/site.yaml"
    assert (
        f"{site}:{redirects}: tag_redirects.health: warning: points to 'nowhere', which no "
        "article has: its URLs answer 404 until one does" in shown
    )
    assert (
        f"{site}:{redirects}: tag_redirects.health: warning: 1 article(s) still carry this tag; "
        "its URLs redirect to 'nowhere'" in shown
    )
    assert (
        f"{site}:{retired}: retired_tags.china: warning: 1 article(s) still carry this tag; "
        "its URLs answer 410 Gone" in shown
    )


def test_healthz_reports_the_state(make_app, small_content: Path, tmp_path: Path):
    """A folder that cannot hold the state: served from memory, and /healthz is degraded."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    health = make_app(small_content, state_dir=str(blocker / "state")).test_client().get("/healthz")
    report = health.get_json()
    assert report["status"] == "degraded" and report["state"].startswith("memory: cannot use")
    fine = make_app(small_content, state_dir=str(tmp_path / "state")).test_client().get("/healthz")
    assert fine.get_json()["state"] == "ok" and fine.get_json()["status"] == "ok"
