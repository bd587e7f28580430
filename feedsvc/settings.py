"""How this process runs, and the one place that reads ``FEEDSVC_*`` variables.

Every environment variable the service honours is read here and nowhere
else, so that the list of them (and their defaults and messages) is one
file to read:

* :class:`ServiceSettings` describe the running service (content folder,
  public URL, proxy hops, reload interval, cache bound, watching);
* :class:`ListenSettings` are where ``feedsvc serve`` listens;
* :class:`ConnectionSettings` bound what one client can hold of the server;
* :func:`site_overrides` are the variables that override ``site.yaml`` for
  one deployment (the site settings themselves are content:
  :mod:`feedsvc.content.site`);
* :func:`content_dir_from_env`, :func:`public_url_from_env`,
  :func:`text_dir_from_env`, :func:`state_dir_from_env` and
  :func:`max_article_kb_from_env` are single
  values other modules need.

Each function takes an optional ``env`` mapping (tests pass their own) and
reads the process environment when it is ``None``. Nothing here imports
Flask or the content: the loader and the CLI use these too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feedsvc.text import is_absolute_http_url

ENV_PREFIX = "FEEDSVC_"

# site.yaml setting -> the variable (after ``FEEDSVC_``) that overrides it.
# Nested settings are named with a dot, as messages about site.yaml name them.
SITE_OVERRIDES: dict[str, str] = {
    "title": "TITLE",
    "site_url": "SITE_URL",
    "id_authority": "ID_AUTHORITY",
    "items_per_feed": "ITEMS_PER_FEED",
    "cache_max_age": "CACHE_MAX_AGE",
    "websub_hub": "WEBSUB_HUB",
    "popular.items": "POPULAR_ITEMS",
    "popular.window_days": "POPULAR_WINDOW_DAYS",
}


def environment(env: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """``env`` when given, else the process environment."""
    return os.environ if env is None else env


@dataclass(frozen=True, slots=True)
class Override:
    """A ``site.yaml`` setting given by an environment variable instead."""

    setting: str  # as site.yaml names it ("popular.items" for a nested one)
    variable: str  # as messages name it: "$FEEDSVC_TITLE"
    value: str  # as written; the site settings check and convert it


def site_overrides(env: Mapping[str, str] | None = None) -> list[Override]:
    """The variables set to override ``site.yaml`` (in :data:`SITE_OVERRIDES` order)."""
    env = environment(env)
    return [
        Override(setting, "$" + ENV_PREFIX + name, env[ENV_PREFIX + name])
        for setting, name in SITE_OVERRIDES.items()
        if ENV_PREFIX + name in env
    ]


def content_dir_from_env(env: Mapping[str, str] | None = None) -> str:
    """``$FEEDSVC_CONTENT_DIR``; unset or blank means ``content``."""
    return environment(env).get(ENV_PREFIX + "CONTENT_DIR") or "content"


def public_url_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``$FEEDSVC_PUBLIC_URL`` as written (checked by whoever uses it), or ``None``."""
    return environment(env).get(ENV_PREFIX + "PUBLIC_URL")


def allowed_hosts_from_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """``$FEEDSVC_ALLOWED_HOSTS``: host names (commas or spaces between), lower-cased.

    As Django's ``ALLOWED_HOSTS``: ``example.org``, ``.example.org`` (and
    its subdomains), ``*`` (any). Unset or blank: any valid host.
    """
    raw = environment(env).get(ENV_PREFIX + "ALLOWED_HOSTS", "")
    return tuple(dict.fromkeys(h.strip().lower() for h in raw.replace(",", " ").split()))


DEFAULT_STATE_DIR = ".feedsvc-state"  # in the working directory: what `make serve` uses
NO_STATE = ("none", ":memory:")  # FEEDSVC_STATE_DIR values meaning "keep nothing on disk"


def state_dir_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``$FEEDSVC_STATE_DIR``: where ``state.db`` lives; ``None`` means in memory.

    Unset or blank means :data:`DEFAULT_STATE_DIR` (relative to the working
    directory, so ``make serve`` keeps state beside the checkout); ``none``
    keeps state in memory only (nothing survives a restart).
    """
    raw = environment(env).get(ENV_PREFIX + "STATE_DIR", "").strip()
    if raw.lower() in NO_STATE:
        return None
    return raw or DEFAULT_STATE_DIR


def text_dir_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``$FEEDSVC_TEXT_DIR``: where article text is spilled; unset or blank means ``None``."""
    return environment(env).get(ENV_PREFIX + "TEXT_DIR") or None


def max_article_kb_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """``$FEEDSVC_MAX_ARTICLE_KB``: the largest article file read, in KiB (``None``: 1024).

    A positive whole number; anything else raises :class:`ValueError`.
    """
    env = environment(env)
    if not env.get(ENV_PREFIX + "MAX_ARTICLE_KB", "").strip():
        return None
    value: int = _env_number(env, "MAX_ARTICLE_KB", 0)
    if value < 1:
        raise ValueError(f"${ENV_PREFIX}MAX_ARTICLE_KB must be at least 1, got {value}")
    return value


def _env_number(env: Mapping[str, str], name: str, default: float, kind: type = int) -> Any:
    """``$FEEDSVC_<name>`` as ``kind`` (int or float); unset or blank means ``default``."""
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"${ENV_PREFIX}{name} must be {what}, got {raw!r}") from exc


def _env_choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """``FEEDSVC_<name>``: one of ``choices`` (the first is the default)."""
    raw = env.get(ENV_PREFIX + name, "").strip().lower()
    if not raw:
        return choices[0]
    if raw not in choices:
        raise ValueError(f"${ENV_PREFIX}{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How this process runs; environment and command line only."""

    content_dir: Path = field(default_factory=lambda: Path("content"))
    public_url: str | None = None
    proxy_hops: int = 0
    reload_interval: float = 2.0
    cache_bytes: int = 64 * 1024 * 1024
    max_base_urls: int = 8
    allowed_hosts: tuple[str, ...] = ()  # empty: any valid host
    render_slots: int = 0  # feed requests building bytes at once; 0: no bound
    writer_processes: bool = False  # cold feeds written by feeds/writers.py; from_env: on
    watch: str = "auto"  # "auto": inotify where available, else polling; "poll": always poll
    # state.db's folder; None (built directly): in memory; from_env: DEFAULT_STATE_DIR
    state_dir: str | None = None

    # FEEDSVC_CACHE_MB bounds both caches together: rendered pages get an
    # eighth of it (they are few and small), feeds the rest.
    PAGE_SHARE = 8

    @property
    def page_cache_bytes(self) -> int:
        """Bytes the rendered HTML pages, embeds and OPML may hold."""
        return self.cache_bytes // self.PAGE_SHARE

    @property
    def feed_cache_bytes(self) -> int:
        """Bytes the rendered feeds and their variants may hold."""
        return self.cache_bytes - self.page_cache_bytes

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServiceSettings:
        """Read ``FEEDSVC_*`` variables; keyword overrides (CLI flags) win."""
        env = environment(env)
        public_url = public_url_from_env(env) or None
        settings = cls(
            content_dir=Path(content_dir_from_env(env)),
            public_url=normalise_public_url(public_url) if public_url else None,
            proxy_hops=_env_number(env, "PROXY_HOPS", 0),
            reload_interval=_env_number(env, "RELOAD", 2.0, float),
            cache_bytes=_env_number(env, "CACHE_MB", 64) * 1024 * 1024,
            max_base_urls=_env_number(env, "MAX_BASE_URLS", 8),
            allowed_hosts=allowed_hosts_from_env(env),
            watch=_env_choice(env, "WATCH", ("auto", "poll")),
            writer_processes=_env_choice(env, "WRITER_PROCESSES", ("on", "off")) == "on",
            state_dir=state_dir_from_env(env),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "content_dir" in clean:
            clean["content_dir"] = Path(clean["content_dir"])
        if clean.get("public_url"):
            clean["public_url"] = normalise_public_url(clean["public_url"])
        return replace(settings, **clean)


@dataclass(frozen=True, slots=True)
class ListenSettings:
    """Where ``feedsvc serve`` listens (defaults of ``--host``, ``--port``, ``--threads``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ListenSettings:
        """``$FEEDSVC_HOST``, ``$FEEDSVC_PORT`` and ``$FEEDSVC_THREADS``.

        A port or thread count that is not a number raises :class:`ValueError`.
        """
        env = environment(env)
        return cls(
            host=env.get(ENV_PREFIX + "HOST", "127.0.0.1"),
            port=int(env.get(ENV_PREFIX + "PORT", "8080")),
            threads=int(env.get(ENV_PREFIX + "THREADS", "8")),
        )


# --- Connection limits (what one client can hold of the server) -------------
# Defaults and the nginx settings they compare with: README "Connections".


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """How many connections ``feedsvc serve`` holds, for how long, and how big a request may be.

    waitress stops *accepting* at its connection limit, so idle connections
    can lock readers out; a high limit with a short timeout keeps room free.
    """

    connection_limit: int = 1000  # open connections; waitress's default is 100
    idle_timeout: int = 20  # seconds idle, or to send one whole request (nginx: 60-75 s)
    max_header_bytes: int = 32 * 1024  # request line + headers (nginx: 1 KB + 4 x 8 KB)
    max_body_bytes: int = 64 * 1024  # feedsvc reads no request bodies (nginx: 1 MB)
    # Worker threads one client address may use at once (nginx: limit_conn per address);
    # 0: a quarter of the threads, at least 1. Off with trusted proxy hops.
    per_client_threads: int = 0
    # Sustained CPU one client address may use, in percent of one core (nginx:
    # limit_req per address, counted in CPU time instead of requests); 0: no limit.
    # Off with trusted proxy hops.
    client_cpu_percent: int = 25

    def per_client_cap(self, threads: int, proxy_hops: int = 0) -> int | None:
        """Tasks one peer address may run at once; ``None`` (no cap) behind trusted proxies.

        Behind a proxy every request comes from the proxy's address, so a cap
        would throttle every reader as one client: the proxy limits instead.
        """
        if proxy_hops > 0:
            return None
        return self.per_client_threads or max(1, threads // 4)

    def client_cpu_share(self, proxy_hops: int = 0) -> float | None:
        """The fraction of a core one peer address may use; ``None``: no limit.

        As for :meth:`per_client_cap`, behind trusted proxies every request
        comes from the proxy, so the proxy limits instead.
        """
        if proxy_hops > 0 or self.client_cpu_percent == 0:
            return None
        return self.client_cpu_percent / 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ConnectionSettings:
        """Read ``$FEEDSVC_`` + the field name upper-cased (``CONNECTION_LIMIT``...).

        Keyword overrides (CLI flags) win; each value must be a whole number >= 1
        (``per_client_threads`` >= 0, 0 meaning a quarter of the threads;
        ``client_cpu_percent`` >= 0, 0 meaning no limit).
        """
        env = environment(env)
        values = {
            name: _env_number(env, name.upper(), getattr(cls(), name))
            for name in ("connection_limit", "idle_timeout", "max_header_bytes", "max_body_bytes",
                         "per_client_threads", "client_cpu_percent")
        }  # fmt: skip
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name, value in values.items():
            least = 0 if name in ("per_client_threads", "client_cpu_percent") else 1
            if value < least:
                variable = ENV_PREFIX + name.upper()
                raise ValueError(f"${variable} must be at least {least}, got {value}")
        return cls(**values)


def normalise_public_url(url: str) -> str:
    """Validate ``FEEDSVC_PUBLIC_URL`` and drop its trailing slash."""
    if not is_absolute_http_url(url):
        raise ValueError(f"public URL must be an absolute http(s) URL, got {url!r}")
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"public URL must not have a query or fragment, got {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """Where the private admin listener (``/stats``, ``/metrics``, detailed ``/healthz``) binds.

    ``$FEEDSVC_ADMIN_ADDR``: ``host:port`` (``[::1]:port``), ``off``, or ``public``
    (the public listener serves the private pages: benchmarks, or a proxy that
    keeps them private). Unset: loopback port 8081, skipped if taken. A
    non-loopback host needs ``$FEEDSVC_ADMIN_ALLOW_REMOTE=1`` (no login).
    """

    host: str | None = "127.0.0.1"  # None: off (or shared with the public listener)
    port: int = 8081
    explicit: bool = False
    shared: bool = False  # "public": the public listener serves the private pages

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AdminSettings:
        """Read and check ``$FEEDSVC_ADMIN_ADDR`` (``ValueError`` names what is wrong)."""
        env = environment(env)
        raw = env.get(ENV_PREFIX + "ADMIN_ADDR", "").strip()
        if not raw:
            return cls()
        if raw.lower() in ("off", "public"):
            return cls(host=None, explicit=True, shared=raw.lower() == "public")
        host, sep, port_text = raw.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port_text.isascii() or not port_text.isdigit():
            raise ValueError(f"${ENV_PREFIX}ADMIN_ADDR must be host:port or off, got {raw!r}")
        port = int(port_text)
        if port > 65535:
            raise ValueError(f"${ENV_PREFIX}ADMIN_ADDR port must be at most 65535, got {port}")
        remote_ok = env.get(ENV_PREFIX + "ADMIN_ALLOW_REMOTE", "").strip() in ("1", "yes", "true")
        if not is_loopback(host) and not remote_ok:
            raise ValueError(
                f"${ENV_PREFIX}ADMIN_ADDR {raw!r} is not a loopback address: the admin "
                f"listener has no login; set ${ENV_PREFIX}ADMIN_ALLOW_REMOTE=1 to allow it"
            )
        return cls(host=host, port=port, explicit=True)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    return host == "localhost" or host.startswith("127.") or host in ("::1", "[::1]")
