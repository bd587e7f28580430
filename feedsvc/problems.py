"""One content problem: which file, which field, what is wrong.

Every layer reports problems in this one shape so that ``feedsvc check``, the
server log and ``/healthz`` say exactly the same thing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]

# The longest field name and message a Problem keeps: whatever a check puts
# in a message (a value from a hostile file), a report line stays a line.
MAX_FIELD_CHARS = 80
MAX_MESSAGE_CHARS = 400


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """A problem in a content file, printed as ``path:line: field: message``."""

    path: str
    field: str
    message: str
    line: int | None = None
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if len(self.field) > MAX_FIELD_CHARS:
            object.__setattr__(self, "field", _cut(self.field, MAX_FIELD_CHARS))
        if len(self.message) > MAX_MESSAGE_CHARS:
            object.__setattr__(self, "message", _cut(self.message, MAX_MESSAGE_CHARS))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {self.field}: {prefix}{self.message}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for ``/healthz`` and ``check --format json``."""
        return asdict(self)


def problem_order(problem: Problem) -> tuple[str, str, str, bool, int, str]:
    """Sort key of problems as reports list them: by file, field, message, line.

    Used instead of the dataclass order, which cannot compare a missing line
    (``None``) with a number.
    """
    line = problem.line
    return (problem.path, problem.field, problem.message, line is not None, line or 0,
            problem.severity)  # fmt: skip


def still_serving(path: str, what: str = "version") -> Problem:
    """The note beside a broken file's problems: what it served before is served still."""
    return Problem(path, "(file)", f"still serving its last good {what}")


class ContentError(Exception):
    """Content that cannot be served at all (for example a bad ``site.yaml``)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
