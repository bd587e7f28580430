"""``feedsvc build``: the export is the live service's bytes and stays right over rebuilds."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from support import REPO, article, write_yaml
from werkzeug.http import parse_date

from bench.generate import write_content
from bench.servers import ProcessGroup, feedsvc_server
from feedsvc.cli import main as cli_main
from feedsvc.export import MANIFEST, build_site
from feedsvc.feeds.urls import FORMATS, export_file, tag_index_path
from feedsvc.web.pages import tag_index_pages

PUBLIC = "https://feeds.example.com/news"


def feed_paths(out: Path) -> list[str]:
    """Every feed URL path of an export, read back from its manifest."""
    files = json.loads((out / MANIFEST).read_text())["files"]
    names = {fmt.filename for fmt in FORMATS.values()}
    return ["/" + quote(f) for f in files if f.rsplit("/", 1)[-1] in names]


def test_exported_files_are_the_live_service_bytes(make_app, bundled_content: Path, tmp_path):
    out = tmp_path / "public"
    result = build_site(bundled_content, out, PUBLIC + "/")
    client = make_app(bundled_content, public_url=PUBLIC).test_client()
    paths = feed_paths(out)
    assert result.feeds == 2 + 9 and len(paths) == 3 * result.feeds
    assert "/tags/%EB%B6%81%ED%95%9C/feed.json" in paths  # a Korean tag, UTF-8 on disk
    for path in paths:
        live = client.get(path)
        assert live.status_code == 200, path
        file = out / _decoded(path)
        assert file.read_bytes() == live.data, path
        zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert Path(f"{file}.gz").read_bytes() == zipped.data, path
        # The file's mtime is the live Last-Modified: a static server sends the same date.
        assert int(file.stat().st_mtime) == parse_date(live.headers["Last-Modified"]).timestamp()
    for name, path in {"index.html": "/", "tags/index.html": "/tags/",
                       "feeds.opml": "/feeds.opml"}.items():  # fmt: skip
        assert (out / name).read_bytes() == client.get(path).data, name
        assert gzip.decompress((out / f"{name}.gz").read_bytes()) == client.get(path).data
    assert f'href="{PUBLIC}/rss.xml"'.encode() in (out / "index.html").read_bytes()
    # The pages inline their stylesheet (allowed by hash): no stylesheet file is written.
    assert not (out / "static").exists()
    assert not [f for f in json.loads((out / MANIFEST).read_text())["files"] if f.endswith(".css")]
    assert json.loads((out / "healthz.json").read_text())["status"] == "ok"


@pytest.mark.slow
def test_every_page_of_the_tag_list_is_exported_as_served(make_app, tmp_path):
    """A site with hundreds of tags: /tags/page/N/ are files, the live bytes, linked."""
    content = write_content(tmp_path / "content", 400, 600, body_bytes=(200, 400))
    out = tmp_path / "public"
    build_site(content, out, PUBLIC)
    client = make_app(content, public_url=PUBLIC).test_client()
    pages = tag_index_pages(client.application.extensions["feedsvc"].catalog)
    assert pages >= 2
    for n in range(1, pages + 1):
        path = tag_index_path(n)
        file = out / export_file(path)
        assert file.read_bytes() == client.get(path).data, path
        assert gzip.decompress(Path(f"{file}.gz").read_bytes()) == file.read_bytes()
        assert (
            f'href="{PUBLIC}{tag_index_path(pages if n == 1 else 1)}"'.encode() in file.read_bytes()
        )
    assert not (out / export_file(tag_index_path(pages + 1))).exists()
    # Fewer tags later: the pages past the new last one are removed.
    for extra in sorted((content / "articles").glob("*.yaml"))[30:]:
        extra.unlink()
    build_site(content, out, PUBLIC)
    fewer = tag_index_pages(make_app(content, public_url=PUBLIC).extensions["feedsvc"].catalog)
    assert fewer < pages
    assert not (out / export_file(tag_index_path(pages))).exists()


def _decoded(path: str) -> Path:
    from urllib.parse import unquote

    return Path(unquote(path.lstrip("/")))


def test_rebuild_removes_the_stylesheet_file_an_older_build_wrote(small_content, tmp_path):
    out = tmp_path / "public"
    build_site(small_content, out, PUBLIC)
    # What builds before the pages inlined their stylesheet left behind.
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append("static/feedsvc.css")
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "static").mkdir()
    (out / "static" / "feedsvc.css").write_text("body { color: red; }\n")
    result = build_site(small_content, out, PUBLIC)
    assert result.removed == ["static/feedsvc.css"]
    assert not (out / "static").exists()


def test_rebuild_keeps_dates_of_unchanged_feeds_and_never_moves_one_back(
    small_content: Path, tmp_path: Path
):
    out = tmp_path / "public"
    build_site(small_content, out, PUBLIC)
    before = {p: (out / _decoded(p)).stat().st_mtime for p in feed_paths(out)}
    assert "/tags/health/rss.xml" in before
    # Delete the newest article (the only "Health" one): the main feed's newest
    # item date moves *back*, yet its Last-Modified must move forward.
    (small_content / "articles" / "gamma.yaml").unlink()
    second = build_site(small_content, out, PUBLIC)
    after = {p: (out / _decoded(p)).stat().st_mtime for p in feed_paths(out)}
    assert "/tags/health/rss.xml" not in after and not (out / "tags" / "health").exists()
    assert "tags/health/rss.xml" in second.removed
    assert after["/rss.xml"] > before["/rss.xml"]
    assert after["/tags/china/rss.xml"] == before["/tags/china/rss.xml"]  # untouched feed
    # A rebuild with nothing changed changes nothing, not even a date.
    third = build_site(small_content, out, PUBLIC)
    assert {p: (out / _decoded(p)).stat().st_mtime for p in feed_paths(out)} == after
    assert third.removed == []


def test_build_is_deterministic(bundled_content: Path, tmp_path: Path):
    first, second = tmp_path / "one", tmp_path / "two"
    build_site(bundled_content, first, PUBLIC)
    build_site(bundled_content, second, PUBLIC)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for relative in files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative
        if relative.name not in (MANIFEST, "healthz.json"):  # written "now"; not validators
            assert (first / relative).stat().st_mtime == (second / relative).stat().st_mtime


def test_build_command_needs_a_public_url(bundled_content: Path, tmp_path: Path, capsys):
    env_before = os.environ.pop("FEEDSVC_PUBLIC_URL", None)
    try:
        code = cli_main(["build", "--out", str(tmp_path / "x"), "--content-dir",
                         str(bundled_content)])  # fmt: skip
        assert code == 2 and "public URL is required" in capsys.readouterr().err
        os.environ["FEEDSVC_PUBLIC_URL"] = "https://env.example.org"
        assert cli_main(["build", "--out", str(tmp_path / "x"), "--content-dir",
                         str(bundled_content)]) == 0  # fmt: skip
        assert "11 feeds" in capsys.readouterr().out
        assert b"https://env.example.org/rss.xml" in (tmp_path / "x" / "rss.xml").read_bytes()
        assert cli_main(["build", "--out", str(tmp_path / "y"), "--content-dir",
                         str(bundled_content), "--public-url", "ftp://nope"]) == 2  # fmt: skip
    finally:
        os.environ.pop("FEEDSVC_PUBLIC_URL", None)
        if env_before is not None:
            os.environ["FEEDSVC_PUBLIC_URL"] = env_before


def test_build_without_site_yaml_exits_2(tmp_path: Path, capsys):
    assert cli_main(["build", "--out", str(tmp_path / "o"), "--content-dir", str(tmp_path),
                     "--public-url", PUBLIC]) == 2  # fmt: skip
    assert "site.yaml" in capsys.readouterr().err


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        # waitress spells header names its own way (Etag): compare case-insensitively.
        headers_read = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers_read, response.read()
    finally:
        conn.close()


def test_two_instances_on_the_same_content_serve_identical_validators(
    bundled_content: Path, tmp_path: Path
):
    # Two processes, started at different times, as behind a load balancer.
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(bundled_content), str(copy)], check=True)
    with ProcessGroup() as group:  # both stopped by PID when the block ends
        for content in (bundled_content, copy):
            group.launch(feedsvc_server(content, env={"FEEDSVC_PUBLIC_URL": PUBLIC}))
        ports = [server.wait_ready().port for server in group.servers]
        build_site(bundled_content, tmp_path / "out", PUBLIC)
        paths = feed_paths(tmp_path / "out")
        for path in paths:
            for headers in ({}, {"Accept-Encoding": "gzip"}):
                one, two = (_get(port, path, headers) for port in ports)
                assert one[0] == two[0] == 200, path
                for name in ("etag", "last-modified", "content-type", "content-length"):
                    assert one[1][name] == two[1][name], (path, name)
                assert one[2] == two[2], path
                # And a validator from one instance is honoured by the other.
                again = _get(ports[1], path, {**headers, "If-None-Match": one[1]["etag"]})
                assert again[0] == 304, path


@pytest.mark.parametrize("edit", ["title", "tags"])
def test_export_follows_edits(small_content: Path, tmp_path: Path, edit: str):
    out = tmp_path / "public"
    build_site(small_content, out, PUBLIC)
    path = small_content / "articles" / "alpha.yaml"
    data = yaml.safe_load(path.read_text())
    if edit == "title":
        data["title"] = "Alpha, corrected"
    else:
        data["tags"] = ["Brand New Tag"]
    write_yaml(path, data)
    build_site(small_content, out, PUBLIC)
    if edit == "title":
        assert b"Alpha, corrected" in (out / "rss.xml").read_bytes()
    else:
        assert (out / "tags" / "brand-new-tag" / "atom.xml").is_file()
        assert not (out / "tags" / "china").exists()
    write_yaml(small_content / "articles" / "delta.yaml", article("Delta", "2025-12-04T00:00:00Z"))
    build_site(small_content, out, PUBLIC)
    assert b"Delta" in (out / "feed.json").read_bytes()


def test_static_nginx_config_sends_the_live_content_security_policy():
    """The pages inline their stylesheet and allow it by hash: the config must agree."""

    from feedsvc.web.policy import HTML_CSP

    config = (REPO / "deploy" / "nginx-static.conf").read_text(encoding="utf-8")
    assert f'add_header Content-Security-Policy "{HTML_CSP}";' in config
