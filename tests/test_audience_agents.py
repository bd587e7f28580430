"""User-Agents to aggregator reports, readers and the left-out (feedsvc.audience.agents).

Every form the issue lists, from the aggregators' own documentation, plus the
browsers, crawlers, tools and spoofers that must not count.
"""

from __future__ import annotations

import pytest

from feedsvc.audience.agents import MAX_SUBSCRIBERS, Report, classify, parse_count

NEWSBLUR_TAIL = (
    "(Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/14.0.1 Safari/605.1.15)"
)

REPORTS = [
    ("Feedbin feed-id:1234 - 56 subscribers", Report("Feedbin", "1234", 56)),
    ("Feedbin feed-id:99 - 1 subscriber", Report("Feedbin", "99", 1)),
    (f"NewsBlur Feed Fetcher - 12 subscribers - https://www.newsblur.com/site/6165/the-peninsula "
     f"{NEWSBLUR_TAIL}", Report("NewsBlur", "6165", 12)),
    (f"NewsBlur Feed Fetcher - 1 subscriber - https://www.newsblur.com/site/7/x {NEWSBLUR_TAIL}",
     Report("NewsBlur", "7", 1)),
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )",
     Report("Feedly", "", 462)),
    ("Feedly/1.0 (+https://feedly.com/fetcher.html; 1,462 readers; )",
     Report("Feedly", "", 1462)),
    ("Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)", Report("Inoreader", "", 114)),
    ("Mozilla/5.0 (compatible; inoreader.com; 1 subscriber)", Report("Inoreader", "", 1)),
    ("Mozilla/5.0 (compatible; theoldreader.com; 1 subscribers; feed-id=5f2a9c)",
     Report("The Old Reader", "5f2a9c", 1)),
    ("Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 1 subscribers)",
     Report("BazQux", "", 1)),
    ("Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 3 readers)",
     Report("BazQux", "", 3)),
    # Aggregators the issue does not name: counted by their product name.
    ("Bloglovin/1.0 (rss crawler; 2,034 readers)", Report("Bloglovin", "", 2034)),
    ("Netvibes (http://www.netvibes.com/; 12 subscribers; feedID: 1)", Report("Netvibes", "1", 12)),
    ("Feed Wrangler/1.0 (12 subscribers; feed-id=9)", Report("Feed Wrangler", "9", 12)),
]  # fmt: skip


@pytest.mark.parametrize(("agent", "report"), REPORTS, ids=[r.aggregator for _, r in REPORTS])
def test_every_reported_form_is_read(agent: str, report: Report):
    client = classify(agent)
    assert client.kind == "aggregator"
    assert client.report == report


def test_absurd_counts_are_capped_and_flagged():
    client = classify("Feedbin feed-id:1 - 99,999,999,999 subscribers")
    assert client.report == Report("Feedbin", "1", MAX_SUBSCRIBERS, capped=True)
    huge = classify("Mozilla/5.0 (compatible; inoreader.com; " + "9" * 900 + " subscribers)")
    assert huge.report is not None and huge.report.capped
    assert huge.report.subscribers == MAX_SUBSCRIBERS


READERS = [
    ("Newsboat/2.36.0 (Linux x86_64)", "newsboat"),
    ("newsbeuter/2.9 (Linux x86_64)", "newsbeuter"),
    ("NetNewsWire (RSS Reader; https://netnewswire.com/)", "NetNewsWire"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1",
     "Thunderbird"),
    ("python-reader/3.12 (+https://github.com/lemon24/reader)", "reader"),
    ("UniversalFeedParser/6.0.11 +https://github.com/kurtmckee/feedparser/", "feedparser"),
    ("feedparser/6.0.11 +https://github.com/kurtmckee/feedparser/", "feedparser"),
    ("Mozilla/5.0 (compatible; Miniflux/2.1.0; +https://miniflux.app)", "Miniflux"),
    ("FreshRSS/1.23.1 (Linux; https://freshrss.org)", "FreshRSS"),
    ("Liferea/1.15.4 (Linux; en_US.UTF-8; https://lzone.de/liferea/)", "Liferea"),
    ("SomeNewReader/0.1", "SomeNewReader"),  # not a browser, bot or tool: one reader
]  # fmt: skip


@pytest.mark.parametrize(("agent", "name"), READERS, ids=[n for _, n in READERS])
def test_feed_readers_are_direct_readers(agent: str, name: str):
    assert classify(agent).kind == "reader"
    assert classify(agent).name == name


LEFT_OUT = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "browser"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "browser"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "browser"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
     "+https://openai.com/gptbot)", "bot"),
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)", "aggregator"),
    ("Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)", "browser"),
    ("Mozilla/5.0", "bot"),
    ("WhatsApp/2.23.20.0", "bot"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot"),
    ("curl/8.5.0", "tool"),
    ("Wget/1.21.4", "tool"),
    ("python-requests/2.32.3", "tool"),
    ("Go-http-client/1.1", "tool"),
    ("", "none"),
    ("-", "none"),
]  # fmt: skip


@pytest.mark.parametrize(("agent", "kind"), LEFT_OUT)
def test_browsers_bots_and_tools_count_for_nobody(agent: str, kind: str):
    client = classify(agent)
    assert client.kind == kind
    assert client.report is None


SPOOFERS = [
    # A browser claiming subscribers.
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36; 5000 subscribers",
    # An aggregator's name in another aggregator's (or no) format.
    "Feedly 90000 subscribers",
    "Feedbin - 400 subscribers",
    "Mozilla/5.0 (compatible; inoreader; 7,000 subscribers)",
    "NewsBlur 50 subscribers",
    # Crawlers, tools and one-person readers do not report subscribers.
    "Googlebot/2.1 (+http://www.google.com/bot.html; 800 subscribers)",
    "curl/8.5.0 (300 subscribers)",
    "NetNewsWire (RSS Reader; 40 subscribers)",
    # A count from a client that does not name itself.
    "1234 subscribers",
    "Mozilla/5.0 (compatible; 5 subscribers)",
]


@pytest.mark.parametrize("agent", SPOOFERS)
def test_spoofed_claims_are_not_trusted(agent: str):
    client = classify(agent)
    assert client.kind == "spoofer"
    assert client.report is None


def test_parse_count_reads_commas_singular_and_readers():
    assert parse_count("1,234 subscribers") == 1234
    assert parse_count("1 subscriber") == 1
    assert parse_count("7 readers") == 7
    assert parse_count("no count") is None


def test_very_long_agents_stay_cheap():
    assert classify("A" * 100_000).kind == "reader"
    assert classify("Mozilla/5.0 (" + "x; " * 30_000).kind in ("reader", "browser")
