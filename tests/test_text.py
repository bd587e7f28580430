"""Safe text: what an editor writes comes out correct and harmless in every format.

Assertions read the served bytes twice: as a reader shows them (feedparser,
JSON Feed reader) and raw, because feedparser sanitises HTML itself and
would hide an unsafe body.
"""

from __future__ import annotations

import html
import json
import re
import threading
from pathlib import Path
from xml.dom import minidom

import pytest
from feedcheck import parse_feed
from hypothesis import given, settings
from hypothesis import strategies as st
from support import SITE, article, fmt_of, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.text import (
    clean_text,
    looks_like_html,
    markup_to_text,
    normalise_url,
    sanitise_body,
)

FEEDS = ("/rss.xml", "/atom.xml", "/feed.json")
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def site_with(tmp_path: Path, files: dict[str, bytes | dict]) -> Path:
    root = tmp_path / "content"
    write_yaml(root / "site.yaml", SITE)
    for name, data in files.items():
        path = root / "articles" / name
        if isinstance(data, dict):
            write_yaml(path, data)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return root


def displayed(value: str, kind: str) -> str:
    """The text a reader shows for a feedparser value of type ``kind``."""
    if kind == "text/html":
        return html.unescape(re.sub(r"<[^>]*>", "", value))
    return value


def reader_view(client, slug: str) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    """Per format: the title, summary, author and tags a reader shows for one article."""
    seen: dict[str, dict[str, object]] = {}
    for path in FEEDS:
        body = client.get(path).data
        fmt = fmt_of(path)
        parse_feed(body, fmt)  # well-formed, no bozo, schema-valid
        if fmt == "json":
            item = next(i for i in json.loads(body)["items"] if i["id"].endswith("/" + slug))
            seen[fmt] = {
                "title": item["title"],
                "summary": item["summary"],
                "author": item["authors"][0]["name"],
                "tags": tuple(item["tags"]),
                "content": item["content_html"],
            }
            continue
        import feedparser

        entry = next(e for e in feedparser.parse(body).entries if e.id.endswith("/" + slug))
        raw_content = ""  # the body as served, before feedparser's own sanitising
        item_tag, id_tag, body_tag = (
            ("entry", "id", "content") if fmt == "atom" else ("item", "guid", "content:encoded")
        )
        for node in minidom.parseString(body).getElementsByTagName(item_tag):
            (id_node,) = node.getElementsByTagName(id_tag)
            if id_node.firstChild.data.endswith("/" + slug):
                (content_node,) = node.getElementsByTagName(body_tag)
                raw_content = "".join(c.data for c in content_node.childNodes)
        seen[fmt] = {
            "title": displayed(entry.title, entry.title_detail.type),
            "summary": displayed(entry.summary, entry.summary_detail.type),
            "author": entry.author,
            "tags": tuple(t.term for t in entry.get("tags", [])),
            "content": raw_content,
        }
    return seen


def test_characters_xml_cannot_carry_are_removed_from_every_field(tmp_path, make_app):
    raw = (
        b"title: Bell\x07 and\x1b escape\x7f\n"
        b"published: 2025-11-03T00:00:00Z\n"
        b'summary: "Null \\0 and \\x08 backspace \\x85 NEL"\n'
        b'author: "Ann\\x01e"\n'
        b'tags: ["Con\\x02trol", "Plain"]\n'
        b'body: "Form\\x0cfeed and \\uFFFE non-character"\n'
    )
    content = site_with(tmp_path, {"controls.yaml": raw})
    snapshot = ContentLoader(content).load()
    warned = {p.field for p in snapshot.problems if "control character" in p.message}
    assert warned == {"title", "summary", "author", "tags", "body"}
    assert not snapshot.errors
    client = make_app(content).test_client()
    for path in ("/rss.xml", "/atom.xml", "/feed.json", "/tags/control/rss.xml"):
        text = client.get(path).data.decode("utf-8")
        assert not XML_INVALID.search(text), path
    for fmt, item in reader_view(client, "controls").items():
        assert item["title"] == "Bell and escape", fmt
        assert item["summary"] == "Null and backspace NEL", fmt
        assert item["author"] == "Anne", fmt
        assert item["tags"] == ("Control", "Plain"), fmt
        assert "Formfeed and  non-character" in str(item["content"]), fmt


def test_titles_and_summaries_are_plain_text(tmp_path, make_app):
    files = {
        "pasted.yaml": article(
            "<b>Breaking</b>: <script>alert(1)</script>talks &amp; more",
            "2025-11-01T00:00:00Z",
            summary="<p>First para.</p><p>Second &lt;para&gt;.</p><!-- note -->",
            author="<em>Jane</em> Reporter",
        ),
        "literal.yaml": article(
            "AT&T <3 a < b and c > d", "2025-11-02T00:00:00Z", summary="x<y and y>z ]]> end"
        ),
    }
    content = site_with(tmp_path, files)
    snapshot = ContentLoader(content).load()
    warned = {(p.path.rsplit("/", 1)[1], p.field) for p in snapshot.problems if "HTML" in p.message}
    assert warned == {
        ("pasted.yaml", "title"),
        ("pasted.yaml", "summary"),
        ("pasted.yaml", "author"),
    }
    client = make_app(content).test_client()
    for fmt, item in reader_view(client, "pasted").items():
        assert item["title"] == "Breaking: talks & more", fmt
        assert item["summary"] == "First para. Second <para>.", fmt
        assert item["author"] == "Jane Reporter", fmt
    for fmt, item in reader_view(client, "literal").items():
        assert item["title"] == "AT&T <3 a < b and c > d", fmt
        assert item["summary"] == "x<y and y>z ]]> end", fmt


def test_cdata_end_ampersand_and_less_than_survive_every_field_and_format(tmp_path, make_app):
    nasty = "A ]]> B & C < D"
    content = site_with(
        tmp_path,
        {
            "nasty.yaml": article(
                nasty,
                "2025-11-01T00:00:00Z",
                summary=nasty,
                author=nasty,
                tags=[nasty],
                body=f"Body {nasty}\n\n<pre>{html.escape(nasty)}</pre>\n\n[l](/p?a=1&b=2)",
            )
        },
    )
    client = make_app(content).test_client()
    for fmt, item in reader_view(client, "nasty").items():
        assert item["title"] == nasty, fmt
        assert item["summary"] == nasty, fmt
        assert item["author"] == nasty, fmt
        assert item["tags"] == (nasty,), fmt
        body = html.unescape(str(item["content"]))
        assert f"Body {nasty}" in body and f"<pre>{nasty}</pre>" in body, fmt
        assert 'href="https://news.test/p?a=1&b=2"' in body, fmt
    tag_feed = client.get("/tags/a-b-c-d/atom.xml")
    assert tag_feed.status_code == 200 and parse_feed(tag_feed.data, "atom").title.endswith(nasty)


UNSAFE_BODY = """\
Intro with <script>alert('s')</script> and <style>body{display:none}</style> text.

<iframe src="https://evil.test/frame"></iframe>
<img src="/img/photo.jpg" onerror="alert('img')" alt="photo">
<a href="javascript:alert('js')">js link</a> <a href=" JaVaScRiPt:alert(1)">spaced</a>
<a href="data:text/html,<script>alert(1)</script>">data</a>
<div onclick="alert('div')" style="color:red">styled</div>
<svg><script>alert('svg')</script></svg><form action="/x"><input name="q"></form>
<object data="x.swf"></object><embed src="x.swf">

[relative](other-article) ![pic](images/pic.png) [rooted](/about) [frag](#notes)
[mail](mailto:desk@news.test) [proto](//cdn.news.test/a.js)
"""


def test_bodies_are_sanitised_with_an_allowlist_and_urls_made_absolute(tmp_path, make_app):
    content = site_with(
        tmp_path, {"unsafe.yaml": article("Unsafe", "2025-11-01T00:00:00Z", body=UNSAFE_BODY)}
    )
    client = make_app(content).test_client()
    for fmt, item in reader_view(client, "unsafe").items():
        body = str(item["content"])
        lowered = body.lower()
        for banned in ("<script", "<style", "<iframe", "<svg", "<form", "<input", "<object",
                       "<embed", "javascript:", "data:text", "alert('", "onerror", "onclick",
                       "style="):  # fmt: skip
            assert banned not in lowered, (fmt, banned, body)
        assert "text." in body and "styled" in body and "js link" in body
        article_url = "https://news.test/articles/unsafe"
        assert '<img src="https://news.test/img/photo.jpg" alt="photo">' in body
        assert 'href="https://news.test/articles/other-article"' in body
        assert 'src="https://news.test/articles/images/pic.png"' in body
        assert 'href="https://news.test/about"' in body
        assert f'href="{article_url}#notes"' in body
        assert 'href="mailto:desk@news.test"' in body
        assert 'href="https://cdn.news.test/a.js"' in body
        assert re.findall(r'(?:href|src)="([^"]*)"', body) and all(
            url.startswith(("https://", "mailto:"))
            for url in re.findall(r'(?:href|src)="([^"]*)"', body)
        )


def test_image_field_urls_are_made_safe(tmp_path, make_app):
    files = {
        "spaced.yaml": article("Spaced", "2025-11-01T00:00:00Z", image="https://img.test/a b.jpg"),
        "relative.yaml": article("Relative", "2025-11-02T00:00:00Z", image="/img/r.jpg"),
        "script.yaml": article("Script", "2025-11-03T00:00:00Z", image="javascript:alert(1)"),
    }
    content = site_with(tmp_path, files)
    snapshot = ContentLoader(content).load()
    warned = {p.path.rsplit("/", 1)[1] for p in snapshot.problems if p.field == "image"}
    assert warned == {"relative.yaml", "script.yaml"}
    items = {
        i["id"].rsplit("/", 1)[1]: i
        for i in json.loads(make_app(content).test_client().get("/feed.json").data)["items"]
    }
    assert items["spaced"]["image"] == "https://img.test/a%20b.jpg"
    assert items["relative"]["image"] == "https://news.test/img/r.jpg"
    assert "image" not in items["script"] and "javascript" not in items["script"]["content_html"]


def test_yaml_1_2_scalars_keep_editors_words(tmp_path):
    raw = (
        b"title: no\npublished: 2025-11-01\nauthor: 007\nsummary: 1:20\ntags: [NO, yes, on, Off]\n"
    )
    snapshot = ContentLoader(site_with(tmp_path, {"norway.yaml": raw})).load()
    (norway,) = snapshot.articles
    assert norway.title == "no" and norway.author == "007" and norway.summary == "1:20"
    assert [t.name for t in norway.tags] == ["NO", "yes", "on", "Off"]
    assert not snapshot.errors


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom", "utf-32"]
)
def test_unicode_files_with_a_bom_are_read(tmp_path, encoding):
    text = "title: 북한 소식 — Café\npublished: 2025-11-01T00:00:00Z\nsummary: 😀 astral\n"
    if encoding == "utf-16-le-bom":
        raw = b"\xff\xfe" + text.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        raw = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        raw = text.encode(encoding)
    snapshot = ContentLoader(site_with(tmp_path, {"enc.yaml": raw})).load()
    (only,) = snapshot.articles
    assert only.title == "북한 소식 — Café" and only.summary == "😀 astral"


def test_a_file_that_is_not_utf8_is_rejected_naming_the_byte_and_line(tmp_path):
    raw = "title: Plain\npublished: 2025-11-01T00:00:00Z\nsummary: Café\n".encode("latin-1")
    snapshot = ContentLoader(site_with(tmp_path, {"latin.yaml": raw})).load()
    (problem,) = snapshot.errors
    assert problem.line == 3 and "not valid UTF-8" in problem.message and "0xe9" in problem.message


def test_markup_detection_leaves_ordinary_text_alone():
    for text in ("AT&T", "a < b", "x<y and y>z", "<3", "R&D; Q&A", "I <3 NY & LA", "1 << 2"):
        assert not looks_like_html(text), text
    for text in ("<b>x</b>", "line<br>break", "a &amp; b", "&#8217;", "<script>x", "<!-- c -->"):
        assert looks_like_html(text), text
    assert markup_to_text("<p>a</p><p>b &lt; c</p><script>evil()</script>") == "a b < c"
    assert clean_text("ok\x00\x1f\x7f\x9f\ud800\ufffe!") == "ok!"


def test_url_normalisation_keeps_valid_urls_and_fixes_the_rest():
    valid = "https://img.test/a%20b/c.jpg?x=1&y=%2F#frag"
    assert normalise_url(valid) == valid
    assert normalise_url(" https://img.test/a b.jpg ") == "https://img.test/a%20b.jpg"
    assert normalise_url("https://bücher.test/ü.jpg") == "https://xn--bcher-kva.test/%C3%BC.jpg"
    assert normalise_url('https://img.test/"><script>') == "https://img.test/%22%3E%3Cscript%3E"


def test_one_cleaner_makes_urls_absolute_against_each_threads_own_base():
    """The sanitiser is built once; its URL filter reads the base URL of the calling thread."""
    failures: list[str] = []

    def clean_many(index: int) -> None:
        base = f"https://site{index}.example/articles/a"
        for _ in range(300):
            html = sanitise_body('<a href="x">x</a><img src="/i.png">', base)
            expected = (
                f'<a href="https://site{index}.example/articles/x" rel="noopener noreferrer">x</a>'
                f'<img src="https://site{index}.example/i.png">'
            )
            if html != expected:
                failures.append(html)

    threads = [threading.Thread(target=clean_many, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


BASES = [
    "https://news.example/articles/a-story",
    "http://news.example:8080/deep/path/",
    "https://news.example",
    "HTTPS://News.Example/x?q=1#f",
    "ftp://files.example/x",
    "",
]


def joined_by_urljoin(value: str, base: str) -> str | None:
    """What the attribute filter gave for every URL before its fast path for root paths."""
    from urllib.parse import urljoin, urlsplit

    try:
        absolute = urljoin(base, value.strip())
    except ValueError:
        return None
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


@given(
    st.text(alphabet="/a.%;?#:@!$&'()*+,=~_-\\ é9", max_size=24).map(lambda s: "/" + s),
    st.sampled_from(BASES),
)
@settings(max_examples=3000, deadline=None)
def test_root_paths_are_made_absolute_exactly_as_urljoin_makes_them(value: str, base: str):
    from feedsvc.text import _absolute_url, _base_origin, _base_url

    _base_url.value = (base, _base_origin(base))  # as sanitise_body() sets it
    assert _absolute_url("a", "href", value) == joined_by_urljoin(value, base)


@given(
    st.lists(
        st.sampled_from([*BASES, "https://news.example/", "https://news.example.org/a"])
        | st.text(alphabet="hts:/.?#@[]\t\nHTPSxé", max_size=30),
        max_size=12,
    )
)
@settings(max_examples=1500, deadline=None)
def test_the_origin_kept_from_the_last_base_is_the_one_urlsplit_gives(bases: list[str]):
    """A body's base is its article's page: each differs, their origin mostly not,
    so sanitise_body() reuses the last origin when a base starts with it and "/"."""
    from feedsvc.text import _base_origin, _origin

    for base in bases:
        assert _base_origin(base) == _origin.__wrapped__(base), base


@given(st.text(max_size=60) | st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60))
@settings(max_examples=2000, deadline=None)
def test_clean_text_removes_what_the_xml_pattern_finds(value: str):
    """clean_text()'s ASCII fast path (bytes.translate) leaves exactly what the regex leaves."""
    from feedsvc.text import _XML_INVALID

    assert clean_text(value) == _XML_INVALID.sub("", value)


def test_links_in_bodies_are_absolute_against_the_article():
    base = "https://news.example/articles/a-story"
    body = (
        '<a href="/articles/other">o</a> <img src="/img/a.png" alt=""> '
        '<a href="/a/../b">d</a> <a href="/a//b">e</a> <a href="#notes">n</a> '
        '<a href="rel/x">r</a> <a href="javascript:alert(1)">j</a>'
    )
    cleaned = sanitise_body(body, base)
    assert 'href="https://news.example/articles/other"' in cleaned
    assert 'src="https://news.example/img/a.png"' in cleaned
    assert 'href="https://news.example/b"' in cleaned
    assert 'href="https://news.example/a//b"' in cleaned  # as urljoin() leaves it
    assert 'href="https://news.example/articles/a-story#notes"' in cleaned
    assert 'href="https://news.example/articles/rel/x"' in cleaned
    assert "javascript" not in cleaned
