"""HTTP: the WSGI fast path for feeds, the Flask app for pages, waitress glue.

The outermost stage: it answers requests from what :mod:`feedsvc.service`
holds and never loads content itself. Paths come from
:mod:`feedsvc.feeds.urls`, headers from :mod:`~feedsvc.web.policy`, HTML from
the one Jinja environment in :mod:`~feedsvc.web.html`.

  app.py        create_app: the blueprints below behind the fast path (and ProxyFix)
  endpoint.py   the fast path: canonical feed URLs from the cache, before Flask
  negotiate.py  what a request asks for (gzip, a browser page, its base URL); sans-IO
  directory.py  /, /tags/, tag pages, permanent redirects of other spellings
  embed.py      /embed/... headline fragments other sites may frame
  opml.py       /feeds.opml
  health.py     /healthz and /metrics
  hooks.py      every Flask response: CORS preflight, policy headers, plain-text errors
  respond.py    what views share: the service, the base URL, cached pages, redirects
  pagecache.py  every page and OPML rendered once per content version, bounded, gzip, ETags
  pages.py      what HTML pages show (directory, tag pages, feed pages, embeds)
  html.py       the one Jinja environment and render()
  policy.py     every policy header: CSP, CORS, Vary, Allow, framing, caching
  metrics.py    request counters and the Prometheus exposition
  server.py     waitress with keep-alive after 304s and a quiet queue log
"""
