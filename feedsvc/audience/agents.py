"""Who fetched a feed, from its User-Agent: an aggregator's report, a reader, or nobody.

FeedBurner's convention, kept here: hosted aggregators fetch a feed once for
all their users and say how many they are in the User-Agent
(``Feedbin feed-id:1234 - 56 subscribers``); every other feed reader is one
person; browsers, crawlers and HTTP tools are nobody's subscription.

The rules, in the order they are applied (README "Audience"):

1. A UA naming a known aggregator (Feedbin, NewsBlur, Feedly, Inoreader,
   The Old Reader, BazQux) is trusted only in that aggregator's own format.
   The same name with a count in another shape is a *spoofer*: not counted.
2. Any other UA with a count (``N subscribers``/``N readers``) is a report of
   the aggregator its first product token names, unless the UA is a browser,
   a named crawler, an HTTP tool or a one-person reader: a claim from those
   is a spoofer too.
3. Known feed readers (newsboat, NetNewsWire, Thunderbird, reader,
   feedparser, Miniflux...) are direct readers, even when the UA also looks
   like a browser (Thunderbird's does).
4. Crawlers (Googlebot, bingbot, "bot"/"spider"/"crawler"), HTTP tools (curl,
   wget, python-requests...) and browsers are left out; so is an empty UA.
5. Anything else is a direct reader: feed readers are many, and FeedBurner
   counted every client that was not a known browser or bot.

A count beyond :data:`MAX_SUBSCRIBERS` is capped there and flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["aggregator", "reader", "browser", "bot", "tool", "spoofer", "none"]

# No feed has this many subscribers at one aggregator; a bigger claim is a
# bug or a lie, and one such report must not swamp every real one.
MAX_SUBSCRIBERS = 1_000_000
MAX_AGENT_CHARS = 1024  # longer UAs are cut before matching (regexes stay cheap)

_NUMBER = r"(?P<n>\d{1,3}(?:,\d{3})+|\d+)"
_COUNT = re.compile(_NUMBER + r"\s+(?:subscribers?|readers?)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Report:
    """One aggregator's claim: this many of its users follow this feed."""

    aggregator: str
    feed_id: str  # the aggregator's own id of the subscription ("" when it sends none)
    subscribers: int
    capped: bool = False  # the claim was larger than MAX_SUBSCRIBERS


@dataclass(frozen=True, slots=True)
class Client:
    """What a User-Agent is: its kind, a short name for charts, and any report."""

    kind: Kind
    name: str
    report: Report | None = None


@dataclass(frozen=True, slots=True)
class _Aggregator:
    name: str
    marker: re.Pattern[str]  # the UA names this aggregator
    shape: re.Pattern[str]  # ... and this is its own format (groups n, optional id)


def _shape(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("{N}", _NUMBER), re.IGNORECASE)


AGGREGATORS = (
    _Aggregator("Feedbin", re.compile("feedbin", re.I),
                _shape(r"^Feedbin feed-id:(?P<id>\d+) - {N} subscribers?\b")),
    _Aggregator("NewsBlur", re.compile("newsblur", re.I),
                _shape(r"^NewsBlur Feed Fetcher - {N} subscribers?"
                       r"(?: - https?://[^ ]*?/site/(?P<id>\d+)[^ ]*)?(?: |$)")),
    _Aggregator("Feedly", re.compile("feedly", re.I),
                _shape(r"^Feedly/[\d.]+ \(\+https?://(?:www\.)?feedly\.com/[^;)]*; "
                       r"{N} (?:subscribers?|readers?);")),
    _Aggregator("Inoreader", re.compile("inoreader", re.I),
                _shape(r"^Mozilla/5\.0 \(compatible; inoreader\.com(?:/[\d.]+)?; "
                       r"{N} (?:subscribers?|readers?)")),
    _Aggregator("The Old Reader", re.compile("theoldreader", re.I),
                _shape(r"^Mozilla/5\.0 \(compatible; theoldreader\.com; "
                       r"{N} (?:subscribers?|readers?)(?:; feed-id=(?P<id>[\w-]+))?")),
    _Aggregator("BazQux", re.compile("bazqux", re.I),
                _shape(r"\bBazQux/[\d.]+; \+https?://bazqux\.com/[^;)]*; "
                       r"{N} (?:subscribers?|readers?)\)")),
)  # fmt: skip

# Direct feed readers (one person each), matched before browsers: some embed browser tokens.
READERS = (
    ("newsboat", "newsboat"), ("newsbeuter", "newsbeuter"), ("netnewswire", "NetNewsWire"),
    ("thunderbird", "Thunderbird"), ("python-reader", "reader"), ("lemon24/reader", "reader"),
    ("feedparser", "feedparser"), ("miniflux", "Miniflux"), ("freshrss", "FreshRSS"),
    ("tiny tiny rss", "Tiny Tiny RSS"), ("tt-rss", "Tiny Tiny RSS"), ("liferea", "Liferea"),
    ("quiterss", "QuiteRSS"), ("rssowl", "RSSOwl"), ("akregator", "Akregator"),
    ("reeder", "Reeder"), ("readkit", "ReadKit"), ("vienna", "Vienna"), ("feeder", "Feeder"),
    ("newsflash", "NewsFlash"), ("fluent reader", "Fluent Reader"), ("feedbro", "Feedbro"),
    ("rssguard", "RSS Guard"), ("elfeed", "Elfeed"), ("commafeed", "CommaFeed"),
    ("nextcloud-news", "Nextcloud News"), ("selfoss", "selfoss"), ("inforss", "infoRSS"),
)  # fmt: skip
# Named crawlers: a subscriber count from one of these is a spoof.
_CRAWLER = re.compile(
    r"googlebot|bingbot|baiduspider|yandex|duckduckbot|slurp|applebot|ahrefsbot|semrushbot|"
    r"mj12bot|dotbot|petalbot|gptbot|ccbot|claudebot|bytespider|facebookexternalhit|"
    r"twitterbot|mediapartners|google-inspectiontool|headlesschrome|lighthouse|ia_archiver",
    re.IGNORECASE,
)
# Generic robots (monitors, validators, fetchers without a count): nobody's subscription.
_BOT = re.compile(
    r"bot\b|bot/|spider|crawl|fetcher|archive\.org|feedvalidator|w3c_validator|"
    r"validator\.w3\.org|monitor|uptime|pingdom|scrapy|preview|whatsapp|slack|discord|"
    r"^Mozilla/\d\.\d$",  # a bare "Mozilla/5.0" is a scraper hiding, not a browser
    re.IGNORECASE,
)
_TOOL = re.compile(
    r"^(?:curl|wget|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|"
    r"okhttp|java|apache-httpclient|libwww-perl|lwp::|node-fetch|axios|undici|got|"
    r"httpie|powershell|ruby|php|guzzlehttp|rest-client|postmanruntime|insomnia)\b",
    re.IGNORECASE,
)
_BROWSER = re.compile(
    r"^Mozilla/5\.0 \((?!compatible;)[^)]*\).*(?:Gecko|AppleWebKit|Trident|Presto)|"
    r"^Opera/|\(compatible; MSIE \d",
)
_PRODUCT = re.compile(r"[A-Za-z][\w.\-]*")
_FEED_ID = re.compile(r"feed-?id[=:]\s*([\w-]{1,64})", re.IGNORECASE)


def classify(agent: str) -> Client:
    """What the client sending ``agent`` is (the rules in the module docstring)."""
    agent = agent.strip()[:MAX_AGENT_CHARS]
    if not agent or agent == "-":
        return Client("none", "")
    for aggregator in AGGREGATORS:
        if aggregator.marker.search(agent):
            return _known(aggregator, agent)
    lower = agent.lower()
    reader = next((name for token, name in READERS if token in lower), None)
    claim = _COUNT.search(agent)
    excluded = _excluded(agent)
    if claim is not None:
        if reader is not None or _CRAWLER.search(agent) or (excluded and excluded.kind != "bot"):
            return Client("spoofer", reader or (excluded or Client("none", "")).name or "unknown")
        name = _product_name(agent)
        if name == "unknown":  # a count from a client that does not say who it is
            return Client("spoofer", name)
        feed_id = _FEED_ID.search(agent)
        return Client("aggregator", name, _report(name, feed_id[1] if feed_id else "", claim["n"]))
    if reader is not None:
        return Client("reader", reader)
    return excluded or Client("reader", _product_name(agent))


def _known(aggregator: _Aggregator, agent: str) -> Client:
    """A UA naming a known aggregator: its report, a fetch without one, or a spoof."""
    match = aggregator.shape.search(agent)
    if match is not None:
        feed_id = match.groupdict().get("id") or ""
        report = _report(aggregator.name, feed_id, match.group("n"))
        return Client("aggregator", aggregator.name, report)
    if _COUNT.search(agent):
        return Client("spoofer", aggregator.name)
    return Client("aggregator", aggregator.name)  # a fetch that reports no count


def _excluded(agent: str) -> Client | None:
    """A crawler, an HTTP tool or a browser (in that order), or ``None``."""
    if _CRAWLER.search(agent) or _BOT.search(agent):
        return Client("bot", _product_name(agent))
    if _TOOL.search(agent):
        return Client("tool", _product_name(agent))
    if _BROWSER.search(agent):
        return Client("browser", _browser_name(agent))
    return None


def _report(aggregator: str, feed_id: str, number: str) -> Report:
    subscribers = int(number.replace(",", ""))
    capped = subscribers > MAX_SUBSCRIBERS
    return Report(aggregator, feed_id, min(subscribers, MAX_SUBSCRIBERS), capped)


def parse_count(text: str) -> int | None:
    """The subscriber count written in ``text`` (``1,234 subscribers``), or ``None``."""
    match = _COUNT.search(text)
    return None if match is None else int(match.group("n").replace(",", ""))


def _product_name(agent: str) -> str:
    """A short name for a UA: its first product token (``Mozilla/5.0 (compatible; X`` is X)."""
    tokens = _PRODUCT.findall(agent)
    if tokens and tokens[0].lower() == "mozilla":
        inner = re.search(r"\(compatible; ?([^;/)]+)", agent)
        if inner:
            return _words(inner.group(1)) or "unknown"
        tokens = tokens[2:] if len(tokens) > 2 else tokens
        return (tokens[0] if tokens else "unknown")[:40]
    return _words(re.split(r"[/(;]", agent, maxsplit=1)[0]) or "unknown"


def _words(text: str) -> str:
    """The leading words of a product name, up to one holding a digit ("Feed Wrangler")."""
    kept: list[str] = []
    for word in text.split()[:3]:
        if any(c.isdigit() for c in word) or not word[0].isalpha():
            break
        kept.append(word)
    return " ".join(kept)[:40]


def _browser_name(agent: str) -> str:
    for token, name in (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
                        ("Chrome/", "Chrome"), ("Safari/", "Safari")):  # fmt: skip
        if token in agent:
            return name
    return "browser"
