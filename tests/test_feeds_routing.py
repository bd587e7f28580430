"""feeds/routing.py: which resource a path names, its one canonical spelling, what is refused.

Readers store feed URLs forever and type them by hand, so every other
spelling of a feed (case, slashes, tag display names, unsorted or repeated
combined tags, page 1 spelled out) must resolve to the one canonical path
the web layer redirects to; impossible pages and oversized unions are
refused with a status; everything else names nothing. :func:`lookup` is the
fast path's table: canonical PATH_INFO only, so another spelling is left to
Flask's redirect, and the on-demand routes it memoises stay bounded.

The catalog is made by :func:`make_catalog` from a snapshot the real loader
reads from real files in a temporary folder.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from urllib.parse import unquote

import pytest
from support import NOW, SITE, article, write_yaml

from feedsvc.content.loader import ContentLoader
from feedsvc.content.model import Snapshot
from feedsvc.feeds.catalog import MAX_DYNAMIC_ROUTES, Catalog, make_catalog
from feedsvc.feeds.routing import MAX_ALIAS_PATH, Refusal, Target, lookup, resolve
from feedsvc.feeds.urls import FORMATS, wsgi_path

KOREAN = "/tags/%EB%B6%81%ED%95%9C"  # the canonical path of the tag 북한


def load_snapshot(root: Path, site: dict[str, object], articles: dict[str, dict]) -> Snapshot:
    write_yaml(root / "site.yaml", site)
    for name, data in articles.items():
        write_yaml(root / "articles" / f"{name}.yaml", data)
    snapshot = ContentLoader(root).load(NOW)
    assert snapshot.errors == ()
    return snapshot


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """Two items per page: main has 3 pages, China (and China+Diplomacy) 2, the rest 1."""
    return load_snapshot(
        tmp_path_factory.mktemp("routing") / "content",
        {**SITE, "items_per_feed": 2},
        {
            "a": article("A", "2025-12-01T00:00:00Z", tags=["China", "Diplomacy"]),
            "b": article("B", "2025-12-02T00:00:00Z", tags=["North Korea", "China"]),
            "c": article("C", "2025-12-03T00:00:00Z", tags=["북한", "AC/DC"]),
            "d": article("D", "2025-12-04T00:00:00Z", tags=["Diplomacy", "China"]),
            "e": article("E", "2025-12-05T00:00:00Z", tags=["Health"]),
        },
    )


@pytest.fixture
def catalog(snapshot: Snapshot) -> Catalog:
    """A fresh catalog per test: lookup() memoises into it."""
    return make_catalog(1, snapshot, NOW)


def feed_path(catalog: Catalog, path: str) -> str:
    """The canonical path ``path`` resolves to; fails unless it names a feed."""
    target = resolve(catalog, path)
    assert isinstance(target, Target) and target.kind == "feed", (path, target)
    assert target.spec is not None and target.fmt is not None
    assert target.spec.url_path(target.fmt) == target.path  # the Target is self-consistent
    return target.path


@pytest.mark.parametrize(
    "path",
    [
        "/rss.xml",
        "/popular/feed.json",
        "/tags/china/atom.xml",
        "/page/2/rss.xml",
        "/tags/china/page/2/feed.json",
        "/tags/china+diplomacy/rss.xml",
        "/tags/china+diplomacy/page/2/atom.xml",
        "/tags/china+north-korea+북한/rss.xml",
    ],
)
def test_a_canonical_feed_path_resolves_to_itself(catalog: Catalog, path: str):
    """The canonical spelling must be a fixed point, or the web layer would redirect in a loop."""
    assert unquote(feed_path(catalog, path)) == path


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/RSS.XML", "/rss.xml"),
        ("//rss.xml/", "/rss.xml"),
        ("/Popular/Feed.JSON", "/popular/feed.json"),
        ("/TAGS/China/RSS.XML", "/tags/china/rss.xml"),
        ("/tags/china/rss.xml/", "/tags/china/rss.xml"),
        ("/tags/North Korea/atom.xml", "/tags/north-korea/atom.xml"),
        ("/tags/north_korea/atom.xml", "/tags/north-korea/atom.xml"),
        ("/tags/ＣＨＩＮＡ/rss.xml", "/tags/china/rss.xml"),  # full-width letters (NFKC)
        ("/tags/AC/DC/rss.xml", "/tags/acdc/rss.xml"),  # a display name containing "/"
        ("/tags/북한/feed.json", f"{KOREAN}/feed.json"),  # out: percent-encoded
        # combined tags: any order, case, spelling and repetition, one canonical union
        ("/tags/diplomacy+china/rss.xml", "/tags/china+diplomacy/rss.xml"),
        ("/tags/Diplomacy+CHINA+china/rss.xml", "/tags/china+diplomacy/rss.xml"),
        ("/tags/북한+North Korea+China/rss.xml", f"/tags/china+north-korea+{KOREAN[6:]}/rss.xml"),
        ("/tags/diplomacy+china/page/2/atom.xml", "/tags/china+diplomacy/page/2/atom.xml"),
        # a "union" of one tag is that tag's own feed
        ("/tags/china+China/rss.xml", "/tags/china/rss.xml"),
        ("/tags/china+/rss.xml", "/tags/china/rss.xml"),
        # page 1 is the feed itself; zero-padded numbers are the same page
        ("/page/1/rss.xml", "/rss.xml"),
        ("/PAGE/02/rss.xml", "/page/2/rss.xml"),
        ("/tags/China/page/1/atom.xml", "/tags/china/atom.xml"),
        ("/popular/page/1/rss.xml", "/popular/rss.xml"),
    ],
)
def test_other_spellings_resolve_to_the_canonical_feed_path(
    catalog: Catalog, path: str, canonical: str
):
    """Each spelling a person or a reader may use names exactly one feed, and the
    answer is the one URL that feed is stored under."""
    assert feed_path(catalog, path) == canonical


def test_percent_encoding_variants_are_one_path_once_decoded(catalog: Catalog):
    """Routing sees PATH_INFO, which the server has already percent-decoded: any
    hex case, an encoded ``+`` or an encoded ``/`` in a tag name are the same
    path. A literal, still-encoded path (a double-encoded URL) names nothing;
    decoding twice would let one URL mean two things."""
    for sent in (
        f"{KOREAN}/rss.xml",
        KOREAN.lower() + "/rss.xml",
        "/tags/%EB%B6%81한/rss.xml",  # half encoded
        "/tags/북한/rss.xml",  # not encoded at all
    ):
        assert feed_path(catalog, unquote(sent)) == f"{KOREAN}/rss.xml"
    assert feed_path(catalog, unquote("/tags/diplomacy%2Bchina/rss.xml")) == (
        "/tags/china+diplomacy/rss.xml"
    )
    assert feed_path(catalog, unquote("/tags/AC%2FDC/rss.xml")) == "/tags/acdc/rss.xml"
    assert resolve(catalog, f"{KOREAN}/rss.xml") is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", Target("directory", "/")),
        ("/", Target("directory", "/")),
        ("/tags", Target("tags", "/tags/")),
        ("/TAGS/", Target("tags", "/tags/")),
        ("/Feeds.OPML", Target("page", "/feeds.opml")),
        ("/healthz/", Target("page", "/healthz")),
        ("/popular", Target("page", "/#popular")),  # the section of the directory
    ],
)
def test_pages_other_than_feeds(catalog: Catalog, path: str, expected: Target):
    assert resolve(catalog, path) == expected


def test_a_tag_page_is_named_by_any_spelling_of_the_tag(catalog: Catalog):
    for path in ("/tags/China", "/tags/china/", "/tags/CHINA//"):
        target = resolve(catalog, path)
        assert isinstance(target, Target) and (target.kind, target.path) == ("tag", "/tags/china/")
        assert target.spec is catalog.feeds["tag:china"] and target.fmt is None
    target = resolve(catalog, "/tags/북한")
    assert isinstance(target, Target) and target.path == f"{KOREAN}/"


def test_pages_in_range_are_that_page_of_the_feed(catalog: Catalog):
    """Main has 5 articles at 2 a page: pages 2 and 3 exist, each the same feed at a page."""
    for path, page in [("/page/2/rss.xml", 2), ("/page/3/atom.xml", 3)]:
        target = resolve(catalog, path)
        assert isinstance(target, Target) and target.spec is not None
        assert (target.spec.page, target.spec.key, target.spec.feed_key) == (
            page,
            f"main@{page}",
            "main",
        )
    target = resolve(catalog, "/tags/china+diplomacy/page/2/rss.xml")
    assert isinstance(target, Target) and target.spec is not None
    assert target.spec.key == "tags:china+diplomacy@2"


@pytest.mark.parametrize(
    "path",
    [
        "/page/4/rss.xml",  # main has 3 pages
        "/page/0/rss.xml",
        "/page/0000000/rss.xml",
        "/tags/china/page/3/rss.xml",  # China has 2
        "/tags/health/page/2/atom.xml",  # one article: one page
        "/tags/china+diplomacy/page/3/rss.xml",
        "/popular/page/2/rss.xml",  # the popular feed does not page at all
    ],
)
def test_pages_out_of_range_are_refused_with_404(catalog: Catalog, path: str):
    """Refused rather than ``None``: the path names a real feed, so the answer says
    which part is wrong."""
    assert resolve(catalog, path) == Refusal(404, "no such page of this feed")


def test_more_tags_than_the_site_allows_are_refused_with_400(catalog: Catalog, tmp_path: Path):
    """The limit counts distinct tags and is checked before the tags exist, so an
    oversized union is refused cheaply whatever its names."""
    too_many = "/tags/china+diplomacy+health+north-korea+북한/rss.xml"
    assert resolve(catalog, too_many) == Refusal(400, "at most 4 tags can be combined in one feed")
    assert resolve(catalog, "/tags/a+b+c+d+e/rss.xml") == Refusal(
        400, "at most 4 tags can be combined in one feed"
    )
    four = "/tags/china+diplomacy+health+north-korea/rss.xml"
    assert feed_path(catalog, four) == four
    # Five names, one tag: under the limit.
    assert (
        feed_path(catalog, "/tags/China+china+CHINA+china+chInA/rss.xml") == "/tags/china/rss.xml"
    )

    # The limit is the site's setting, not a constant.
    site = {**SITE, "items_per_feed": 2, "tag_combine_limit": 2}
    strict = load_snapshot(
        tmp_path / "content", site, {"a": article("A", "2025-12-01", tags=["X", "Y", "Z"])}
    )
    view = make_catalog(1, strict, NOW)
    assert feed_path(view, "/tags/y+x/rss.xml") == "/tags/x+y/rss.xml"
    assert resolve(view, "/tags/x+y+z/rss.xml") == Refusal(
        400, "at most 2 tags can be combined in one feed"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/nope/rss.xml",
        "/rss.xml.bak",
        "/tags/rss.xml",  # no tag named
        "/tags/nope/rss.xml",
        "/tags/nope/",
        "/tags/!!!/rss.xml",  # a name with no slug at all
        "/tags/+/rss.xml",
        "/tags/china+nope/rss.xml",  # a union with an unknown tag
        "/page/x/rss.xml",
        "/page/-1/rss.xml",
        "/page/12345678/rss.xml",  # more than 7 digits: never looked at
        "/page/2/tags/china/rss.xml",  # the page goes last
        "/popular/x/rss.xml",
        "/popular/feeds.opml",
    ],
)
def test_paths_that_name_nothing_resolve_to_none(catalog: Catalog, path: str):
    assert resolve(catalog, path) is None


def test_overlong_paths_name_nothing_even_when_they_would_resolve(catalog: Catalog):
    """Hostile paths are refused before any work: one character over the limit is
    ``None`` although its segments spell the main feed."""
    at_limit = "/" * (MAX_ALIAS_PATH - len("rss.xml")) + "rss.xml"
    assert len(at_limit) == MAX_ALIAS_PATH
    assert feed_path(catalog, at_limit) == "/rss.xml"
    assert resolve(catalog, "/" + at_limit) is None


def test_a_page_number_int_cannot_read_names_nothing(catalog: Catalog):
    """``str.isdigit`` is true for superscripts, which ``int`` rejects: such a page
    number must name nothing (404), like any other non-number, not raise."""
    assert not isinstance(resolve(catalog, "/page/²/rss.xml"), Target)


# -- lookup: the fast path's table ----------------------------------------------


def test_lookup_finds_every_prebuilt_feed_by_its_wsgi_path(catalog: Catalog):
    """First pages of main, popular and every tag are prebuilt: found without
    resolving, so nothing is added to the memo."""
    for spec in catalog.feeds.values():
        for fmt in FORMATS.values():
            path_info = wsgi_path(unquote(spec.url_path(fmt)))
            assert lookup(catalog, path_info) == (spec, fmt), path_info
    assert catalog.dynamic_routes == {}


def test_lookup_resolves_pages_and_unions_once_and_memoises_them(catalog: Catalog):
    for path in ("/page/2/rss.xml", "/tags/china+diplomacy/atom.xml", "/tags/china+북한/feed.json"):
        path_info = wsgi_path(path)
        route = lookup(catalog, path_info)
        assert route is not None and unquote(route[0].url_path(route[1])) == path
        assert catalog.dynamic_routes[path_info] is route
        assert lookup(catalog, path_info) is route  # the memo, not a second resolve
    assert len(catalog.dynamic_routes) == 3


@pytest.mark.parametrize(
    "path",
    [
        "/RSS.XML",  # another spelling of a prebuilt feed
        "/tags/China/rss.xml",
        "/rss.xml/",
        "/page/1/rss.xml",  # another spelling of a first page
        "/page/02/rss.xml",
        "/tags/diplomacy+china/rss.xml",  # an unsorted union
        "/tags/china+china/rss.xml",
        "/page/9/rss.xml",  # refused
        "/tags/a+b+c+d+e/rss.xml",
        "/tags/china+nope/rss.xml",  # names nothing
        "/tags/china/",  # a page, not a feed
    ],
)
def test_lookup_leaves_other_spellings_refusals_and_pages_to_flask(catalog: Catalog, path: str):
    """``None`` is the fast path's "not mine": Flask then redirects or refuses. None
    of these may be memoised, or a client could fill the memo with junk."""
    assert lookup(catalog, wsgi_path(path)) is None
    assert catalog.dynamic_routes == {}


def test_lookup_of_a_path_info_that_is_not_utf8_is_none(catalog: Catalog):
    """PATH_INFO is UTF-8 bytes read as Latin-1; other bytes cannot name a tag."""
    for path_info in ("/tags/\xff+china/rss.xml", "/page/2/\xc3(/rss.xml", "/tags/\xff/rss.xml"):
        assert lookup(catalog, path_info) is None
    # Text that is no WSGI string at all (not Latin-1) is not one either.
    assert lookup(catalog, "/tags/china+북한/rss.xml") is None
    assert catalog.dynamic_routes == {}


def test_the_memo_of_dynamic_routes_stays_bounded_and_right(tmp_path: Path):
    """Pages and unions are unbounded (a client can ask for each), so the memo
    is capped at MAX_DYNAMIC_ROUTES; past the cap, lookups still answer right
    and are memoised again."""
    tags = [f"T{n}" for n in range(8)]
    snapshot = load_snapshot(
        tmp_path / "content",
        {**SITE, "items_per_feed": 1},
        {f"a{n:02d}": article(f"A{n}", f"2025-11-{n + 1:02d}", tags=tags) for n in range(20)},
    )
    catalog = make_catalog(1, snapshot, NOW)
    slugs = [tag.lower() for tag in tags]
    unions = itertools.chain.from_iterable(itertools.combinations(slugs, k) for k in (2, 3, 4))
    expected: list[tuple[str, str, int, str]] = []  # (path, union key, page, format)
    for union, page, fmt in itertools.product(unions, range(1, 21), FORMATS.values()):
        suffix = f"/page/{page}" if page > 1 else ""
        expected.append(
            (f"/tags/{'+'.join(union)}{suffix}/{fmt.filename}", "+".join(union), page, fmt.name)
        )
        if len(expected) == MAX_DYNAMIC_ROUTES + 10:
            break

    def check(path: str, union: str, page: int, fmt: str) -> None:
        route = lookup(catalog, path)
        assert route is not None, path
        spec, found = route
        assert (spec.key, spec.page, found.name) == (
            f"tags:{union}" + (f"@{page}" if page > 1 else ""),
            page,
            fmt,
        )
        assert spec.url_path(found) == path

    for n, case in enumerate(expected, 1):
        check(*case)
        assert len(catalog.dynamic_routes) <= MAX_DYNAMIC_ROUTES
        if n == MAX_DYNAMIC_ROUTES:
            assert len(catalog.dynamic_routes) == MAX_DYNAMIC_ROUTES  # full: every one kept
    newest = expected[-1][0]
    assert catalog.dynamic_routes[newest] is lookup(catalog, newest)
    assert len(catalog.dynamic_routes) < MAX_DYNAMIC_ROUTES
    for case in expected[:5] + expected[-5:]:  # the oldest were dropped: resolved again, right
        check(*case)
    assert len(catalog.dynamic_routes) <= MAX_DYNAMIC_ROUTES


def test_each_catalog_has_its_own_memo(snapshot: Snapshot):
    """A reload makes a new catalog; its routes must not answer from the old content."""
    first, second = make_catalog(1, snapshot, NOW), make_catalog(2, snapshot, NOW)
    assert lookup(first, "/page/2/rss.xml") is not None
    assert "/page/2/rss.xml" in first.dynamic_routes and second.dynamic_routes == {}


@pytest.mark.parametrize("number", ["٢", "２", "²", "0x2", "+2", "9" * 5000])
def test_only_ascii_digits_are_page_numbers(catalog: Catalog, number: str):
    """Arabic-Indic and full-width digits were read as 2 (and redirected to
    /page/2/): only the ASCII spelling names a page."""
    assert not isinstance(resolve(catalog, f"/page/{number}/rss.xml"), Target)
