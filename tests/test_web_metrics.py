"""/metrics read by the reference Prometheus text-format parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def scrape(client) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        families[family.name] = {
            tuple(sorted(sample.labels.items())): sample.value for sample in family.samples
        }
    return families


def test_metrics_count_requests_statuses_and_the_304_ratio(client):
    etag = client.get("/rss.xml").headers["ETag"]
    for _ in range(3):
        assert client.get("/rss.xml", headers={"If-None-Match": etag}).status_code == 304
    client.get("/tags/china/feed.json")
    client.get("/nope")
    client.get("/healthz")
    metrics = scrape(client)
    feeds = metrics["feedsvc_feed_requests"]
    assert feeds[(("format", "rss"), ("kind", "main"), ("status", "200"))] == 1
    assert feeds[(("format", "rss"), ("kind", "main"), ("status", "304"))] == 3
    assert feeds[(("format", "json"), ("kind", "tag"), ("status", "200"))] == 1
    assert metrics["feedsvc_not_modified_ratio"][()] == 3 / 5
    pages = metrics["feedsvc_http_requests"]
    assert pages[(("route", "/<path:path>"), ("status", "404"))] == 1
    assert pages[(("route", "/healthz"), ("status", "200"))] == 1


def test_metrics_report_renders_reloads_cache_and_content(demo_app):
    client = demo_app.test_client()
    service = demo_app.extensions["feedsvc"]
    client.get("/atom.xml")  # first request under this host builds the variant
    client.get("/atom.xml")  # the second one finds it
    metrics = scrape(client)
    assert metrics["feedsvc_renders"][()] == service.cache.renders > 0
    assert metrics["feedsvc_reloads"][()] == 0
    assert metrics["feedsvc_articles"][()] == 7
    assert metrics["feedsvc_content_problems"][(("severity", "error"),)] == 0
    lookups = metrics["feedsvc_cache_lookups"]
    assert lookups[(("cache", "variant"), ("result", "hit"))] >= 1
    assert lookups[(("cache", "variant"), ("result", "miss"))] >= 1
    assert metrics["feedsvc_last_reload_timestamp_seconds"][()] > 1.7e9
