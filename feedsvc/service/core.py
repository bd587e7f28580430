"""The running service: one facade over the current catalog, its bytes and its upkeep.

:class:`FeedService` is what the web layer, the exporter and the command line
talk to. Each job behind it lives in its own module:

* :mod:`.swap`: the catalog being served, and reloads that swap in the next;
* :mod:`.prewarm`: served variants, and building the likeliest ahead;
* :mod:`.watcher`: the thread that reloads when content changes or falls due;
* :mod:`.base_urls`: the base URLs readers use, for prewarming and WebSub.

Reading :attr:`FeedService.catalog` never reloads: content changes only in the
watcher thread or in an explicit :meth:`FeedService.reload`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from feedsvc.content.loader import ContentLoader
from feedsvc.feeds.body import keep_rendered_bodies
from feedsvc.feeds.cache import FeedCache, Variant
from feedsvc.feeds.catalog import Catalog
from feedsvc.feeds.lastmodified import LastModifiedLedger
from feedsvc.feeds.prerender import Prerender
from feedsvc.feeds.render import use_writer
from feedsvc.feeds.rendered import RenderedBodies
from feedsvc.feeds.served_tags import ServedTags
from feedsvc.feeds.spec import FeedSpec
from feedsvc.feeds.urls import FeedFormat
from feedsvc.feeds.writers import WriterPool
from feedsvc.service.base_urls import BaseURLs
from feedsvc.service.prewarm import Prewarmer, feed_variant, forget_stale, variant_key
from feedsvc.service.swap import CatalogSwap
from feedsvc.service.watcher import Watcher, settle_seconds
from feedsvc.settings import ServiceSettings
from feedsvc.state.deferred import DeferredWrites
from feedsvc.state.store import StateStore, open_state


class FeedService:
    """Loads content, keeps the current catalog and serves rendered variants."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        clock: Callable[[], datetime] | None = None,
        env: dict[str, str] | None = None,
        prewarm: bool = True,
        state: StateStore | None = None,
    ) -> None:
        self.settings = settings
        # Opened first: what it remembers shapes the first catalog. Never raises.
        self.state = state if state is not None else open_state(settings.state_dir)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.loader = ContentLoader(
            settings.content_dir,
            env,
            settle=settle_seconds(settings.reload_interval),
            state=self.state,  # its parse cache makes restarts fast
        )
        self.cache = FeedCache(settings.feed_cache_bytes, settings.render_slots)
        # Rows no request waits for (Last-Modified dates), written by a thread of their own.
        self.deferred = DeferredWrites(self.state)
        # Dates never go back, across restarts.
        self.cache.ledger = LastModifiedLedger(self.state, deferred=self.deferred)
        self.served_tags = ServedTags(self.state)
        self.bodies = RenderedBodies(self.state)  # rendered once per article version, kept
        keep_rendered_bodies(self.bodies)
        self.bases = BaseURLs(settings.max_base_urls)
        self.prewarmer = Prewarmer(self.cache, self.bases, lambda: self.content.current)
        self.writers = self._start_writers(settings)
        try:
            self.content = CatalogSwap(
                self.loader,
                self.clock,
                lambda new, old: self.prewarmer.prewarm(new, previous=old),
                self.served_tags,
            )
        except BaseException:
            self._close_writers()
            raise
        # Called as listener(old_view, new_view) after each swap, in the reloading thread.
        self.listeners = self.content.listeners
        self.listeners.append(self._forget_stale)
        self.watcher = Watcher(settings, self.loader, self.reload, self.content.seconds_until_due)
        if settings.public_url:
            self.bases.note(settings.public_url)
        self.prerender = Prerender(
            self.bodies, lambda: self.content.current.snapshot, self.wait_prewarmed
        )
        if prewarm:
            self.prewarmer.start(self.content.current)
            self.prerender.start()  # after the prewarm, in a niced helper process

    # -- serving (every request) -----------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The catalog being served. Never reloads: that is the watcher's job."""
        return self.content.current

    def variant(self, catalog: Catalog, base_url: str, spec: FeedSpec, fmt: FeedFormat) -> Variant:
        """Served bytes and validators for a feed under ``base_url``.

        Raises :class:`~feedsvc.feeds.cache.CacheBusy` when building them
        would need a render slot and every one is taken.
        """
        return feed_variant(self.cache, catalog, base_url, spec, fmt, gated=True)

    def has_variant(
        self,
        catalog: Catalog,
        base_url: str,
        spec: FeedSpec,
        fmt: FeedFormat,
        *,
        gzip: bool = False,
    ) -> bool:
        """Whether :meth:`variant` would answer from memory, without a render (nor a gzip)."""
        return self.cache.has_variant(variant_key(base_url, catalog, spec, fmt), gzip=gzip)

    def cached_variant(
        self, catalog: Catalog, base_url: str, spec: FeedSpec, fmt: FeedFormat
    ) -> Variant | None:
        """What :meth:`variant` answers when it needs no render, else ``None``."""
        return self.cache.cached_variant(variant_key(base_url, catalog, spec, fmt))

    def note_base(self, base_url: str) -> None:
        """Remember a base URL readers use, so reloads prewarm its variants."""
        self.bases.note(base_url)

    @property
    def known_bases(self) -> list[str]:
        """Base URLs feeds are published under: the public URL, else those seen lately."""
        if self.settings.public_url:
            return [self.settings.public_url]
        return self.bases.recent()

    # -- upkeep ----------------------------------------------------------

    def _forget_stale(self, old: Catalog, new: Catalog) -> None:
        """Reload listener: free the bytes only older catalogs could ask for."""
        forget_stale(self.cache, old, new)

    def reload(self, *, force: bool = False) -> bool:
        """Apply changed files and articles fallen due; True when content changed.

        Safe to call from any thread; concurrent calls are serialised.
        """
        return self.content.reload(force=force)

    @property
    def reloads(self) -> int:
        """Reloads that changed the content."""
        return self.content.reloads

    @property
    def last_reload_at(self) -> datetime | None:
        """When content was last re-read (changed or not)."""
        return self.content.last_reload_at

    def start_watching(self) -> None:
        """Start the watcher thread (files and schedule; schedule only if the interval is 0)."""
        self.watcher.start()

    @property
    def watch_mode(self) -> str:
        """How content changes are found: ``inotify``, ``poll``, or ``off``."""
        return self.watcher.mode

    @property
    def polls(self) -> int:
        """Watcher wake-ups (tests wait for polls, not for time)."""
        return self.watcher.polls

    @property
    def reload_errors(self) -> int:
        """Reloads that failed (the previous content stayed)."""
        return self.content.reload_errors + self.watcher.reload_errors

    @property
    def reload_failure(self) -> str | None:
        """Why the last reload failed, while no reload has succeeded since (else ``None``)."""
        return self.content.failure

    def wait_prewarmed(self, timeout: float | None = None) -> bool:
        """Wait for the start-up background prewarm (if any); True once it has finished."""
        return self.prewarmer.wait(timeout)

    @staticmethod
    def _start_writers(settings: ServiceSettings) -> WriterPool | None:
        """The writer processes (cold feeds written outside our GIL), if configured.

        Started before the content is loaded, so one is ready by the time the
        prewarm renders: feeds written in this process would import feedgen,
        lxml and dateutil here (~6 MB resident at 100k; issue 14 item 4).
        Until one is ready, feeds are written here.
        """
        if not settings.writer_processes:
            return None
        writers = WriterPool(settings.render_slots or 2)
        writers.start()
        use_writer(writers.write)
        return writers

    def _close_writers(self) -> None:
        if self.writers is not None:
            use_writer(None)
            self.writers.close()

    def stop(self) -> None:
        """Stop the watcher, the start-up prewarm and the pre-render (waiting for each briefly)."""
        self.watcher.stop()
        self.prewarmer.stop()
        self.prerender.stop()

    def close(self) -> None:
        """Stop, then close the state (after every other user of it has stopped).

        The writer processes end here, after the threads that render.
        """
        self.stop()
        self.loader.keeper.keep(wait=True)  # what the next start reads, kept current
        self._close_writers()
        self.bodies.close()
        self.deferred.close()
        self.state.close()
