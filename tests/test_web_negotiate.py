"""web/negotiate.py: what a request asks for, at a bounded cost."""

from __future__ import annotations

from feedsvc.web.negotiate import PARSE_LIMIT, accepts_gzip, gzip_quality


def test_an_accept_encoding_over_the_limit_is_not_parsed_and_gets_identity():
    """250 KB of codings cost ~100 ms of CPU to parse; over the limit the value
    is ignored (identity is always acceptable), at the limit it is read."""
    at_limit = ("identity, " * PARSE_LIMIT)[: PARSE_LIMIT - len("gzip")] + "gzip"
    assert len(at_limit) == PARSE_LIMIT
    assert gzip_quality(at_limit) == 1.0
    assert gzip_quality(at_limit + " ") == 0.0
    assert not accepts_gzip("gzip, " * 50_000)


def test_gzip_quality_reads_explicit_entries_over_the_wildcard():
    assert gzip_quality("gzip;q=0, *") == 0.0
    assert gzip_quality("*") == 1.0
    assert gzip_quality("br, x-gzip;q=0.5") == 0.5
