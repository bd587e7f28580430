"""The two files beside ``articles/``: ``site.yaml`` and ``popularity.yaml``.

Each keeps its last good version while the file is broken, as articles do.
``site.yaml`` is different in one way: without a usable one there is
nothing sensible to serve, so the first load raises
:class:`~feedsvc.problems.ContentError` instead of serving nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from feedsvc.content.signatures import Signature
from feedsvc.content.site import SiteSettings, parse_site_settings
from feedsvc.content.yamlfile import ParsedYaml, YamlRead, shown, shown_key
from feedsvc.problems import ContentError, Problem, still_serving


class SiteFile:
    """``site.yaml`` as applied: the settings served, and what is wrong with the file.

    ``env`` stands for the process environment, whose variables may
    override settings (tests pass their own mapping).
    """

    def __init__(self, display: str, env: Mapping[str, str] | None = None) -> None:
        self.display = display
        self.env = env
        self.settings: SiteSettings | None = None
        self.signature: Signature | None = None
        self.problems: list[Problem] = []

    def missing(self, content_dir_exists: bool) -> None:
        """The file is gone: keep serving the last settings, or raise if there are none."""
        missing = (
            "is missing; the content directory does not exist"
            if not content_dir_exists
            else "is missing; it names the site and its URL"
        )
        problem = Problem(self.display, "(file)", missing)
        if self.settings is None:
            raise ContentError([problem])
        self.problems = [problem, still_serving(self.display, "settings")]
        self.signature = None

    def read(self, read: YamlRead, signature: Signature) -> None:
        """The file was read whole: apply it, or keep the last good settings."""
        (parsed, _, problems), self.signature = read, signature
        site = None
        if parsed is not None:
            site, more = parse_site_settings(parsed.data, self.display, self.env)
            problems = problems + [
                Problem(p.path, p.field, p.message, _line_of(parsed, p.field), p.severity)
                for p in more
            ]
        if site is None and self.settings is None:
            raise ContentError(problems)
        if site is not None:
            self.settings = site
        else:
            problems = [*problems, still_serving(self.display, "settings")]
        self.problems = problems


def _line_of(parsed: ParsedYaml, field: str) -> int | None:
    """The line of a setting: its own key's, else its top-level key's (``popular.items``)."""
    return parsed.lines.get(field) or parsed.lines.get(field.split(".")[0].split("[")[0])


class PopularityFile:
    """``popularity.yaml`` as applied: view counts by slug (an analytics export),
    which win over the ``views`` written in articles."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.views: dict[str, int] = {}
        self.signature: Signature | None = None
        self.problems: list[Problem] = []

    def missing(self) -> None:
        """The file is gone (or never was): the articles' own counts apply."""
        self.views, self.signature, self.problems = {}, None, []

    def read(self, read: YamlRead, signature: Signature) -> None:
        """The file was read whole: apply it, or keep the last good counts."""
        (parsed, _, problems), self.signature = read, signature
        views = None
        if parsed is not None:
            views, more = parse_popularity(parsed, self.display)
            problems = [*problems, *more]
        if views is None:
            keep = still_serving(self.display, "view counts")
            self.problems = [*problems, keep] if self.views else problems
            return
        self.views, self.problems = views, problems


def parse_popularity(
    parsed: ParsedYaml, display: str
) -> tuple[dict[str, int] | None, list[Problem]]:
    """``slug: views`` pairs (slugs lower-cased); ``None`` if the file is not such a mapping.

    A bad count is reported and skipped: the other counts still apply.
    """
    data = {} if parsed.data is None else parsed.data
    if not isinstance(data, Mapping):
        return None, [Problem(display, "(file)", "must map article slugs to views")]
    views: dict[str, int] = {}
    problems: list[Problem] = []
    for slug, count in data.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            line = parsed.lines.get(str(slug))
            message = f"views must be >= 0, got {shown(count)}"
            problems.append(Problem(display, shown_key(slug), message, line))
            continue
        views[str(slug).lower()] = count
    return views, problems
