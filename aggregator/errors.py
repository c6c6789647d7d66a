"""Exception hierarchy. Messages are written for a person who can act on them."""

from __future__ import annotations


class AggregatorError(Exception):
    """Base of every expected failure; the CLI prints its message without a traceback."""


class ConfigError(AggregatorError):
    """A setting has a wrong value."""


class FeedError(AggregatorError):
    """A failure tied to one feed URL."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message

    def __reduce__(self) -> tuple[type[FeedError], tuple[str, str]]:
        # Parsing runs in worker processes: the error must cross the process boundary.
        return (type(self), (self.url, self.message))


class FetchError(FeedError):
    pass


class ParseError(FeedError):
    pass


class DuplicateFeedError(FeedError):
    pass


class FeedNotFoundError(FeedError):
    pass


class OPMLError(AggregatorError):
    """A malformed OPML document; carries the line number when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.line = line


class RuleError(AggregatorError):
    """An invalid topic rule; the message points at the mistake."""


class SchemaOutOfDateError(AggregatorError):
    pass


class ExtractionError(AggregatorError):
    pass


class CpuLimitError(AggregatorError):
    """One document cost more CPU time in a worker process than the per-document limit
    (``AGGREGATOR_DOCUMENT_CPU_LIMIT_S``); the work on it was stopped."""

    def __init__(self, task: str, limit_s: float) -> None:
        super().__init__(f"{task} took longer than {limit_s:g} s of CPU; the document was skipped")
        self.task = task
        self.limit_s = limit_s

    def __reduce__(self) -> tuple[type[CpuLimitError], tuple[str, float]]:
        # Raised in a worker process: the error must cross the process boundary.
        return (type(self), (self.task, self.limit_s))
