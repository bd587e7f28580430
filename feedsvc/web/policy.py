"""The one stylesheet of every HTML page, inlined and allowed by hash.

Inlining means no static route (no file is served from disk by request path)
and no origin to get wrong behind a proxy or under ``FEEDSVC_PUBLIC_URL``;
the Content-Security-Policy allows exactly this stylesheet and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources

STYLESHEET = (importlib.resources.files(__package__) / "static" / "feedsvc.css").read_text("utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLESHEET.encode()).digest()).decode()
# Nothing but our own inline stylesheet, no scripts, no framing, no forms.
HTML_CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
