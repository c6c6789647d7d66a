"""One settings registry: name, default, environment variable, type, validator, help.

``Settings`` is a frozen dataclass; each field's metadata carries its help text and the
allowed values. Values come from (lowest to highest precedence) the defaults, an optional
TOML file (``--config``), the environment (``AGGREGATOR_<NAME>``) and explicit overrides.
A wrong value raises ``ConfigError`` with one line naming the setting, the value and what
is allowed. ``docs/configuration.md`` is generated from this registry (``render_docs``).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from aggregator import PROJECT_URL, __version__
from aggregator.errors import ConfigError

ENV_PREFIX = "AGGREGATOR_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///db/aggregator.sqlite3"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Check:
    """A validator: returns the value when it is allowed, else raises ValueError."""

    allowed: str
    test: Callable[[Any], bool]


def _between(low: float, high: float) -> Check:
    return Check(f"a number from {low:g} to {high:g}", lambda v: low <= v <= high)


def _one_of(*choices: str) -> Check:
    return Check("one of " + ", ".join(choices), lambda v: v in choices)


def _database_url(value: str) -> bool:
    return value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))


def _networks(value: str) -> bool:
    try:
        parse_networks(value, "")
    except ConfigError:
        return False
    return True


def parse_networks(text: str, setting: str) -> tuple[IPNetwork, ...]:
    """Parse comma-separated CIDR blocks (``"127.0.0.1/32, 10.0.0.0/8, ::1"``) into
    networks; empty text: none. A bare address means just that address. Raises
    ``ConfigError`` naming ``setting`` and the bad block."""
    networks: list[IPNetwork] = []
    for raw in text.split(","):
        block = raw.strip()
        if not block:
            continue
        try:
            networks.append(ipaddress.ip_network(block, strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"{setting}: {block!r} is not a CIDR block "
                f"(expected e.g. 127.0.0.1/32 or 10.0.0.0/8): {exc}"
            ) from None
    return tuple(networks)


def parse_trusted_proxies(text: str) -> tuple[IPNetwork, ...]:
    """``AGGREGATOR_TRUSTED_PROXIES`` as networks (see ``parse_networks``)."""
    return parse_networks(text, env_name("trusted_proxies"))


def _http_url(value: str) -> bool:
    return value == "" or value.startswith(("http://", "https://"))


def setting(default: Any, help: str, check: Check | None = None, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "check": check, "secret": secret})


@dataclass(frozen=True, slots=True)
class Settings:
    # --- storage
    database_url: str = setting(
        DEFAULT_DATABASE_URL,
        "SQLAlchemy URL of the database: `sqlite+aiosqlite:///path` (relative paths are "
        "relative to the working directory) or `postgresql+asyncpg://user@host/db`.",
        Check("a sqlite+aiosqlite:// or postgresql+asyncpg:// URL", _database_url),
    )
    auto_migrate: bool = setting(
        False, "Apply database migrations at start-up instead of refusing an old schema."
    )
    # --- web
    host: str = setting("127.0.0.1", "Address the web view listens on.")
    port: int = setting(8080, "Port the web view listens on.", _between(1, 65535))
    base_url: str = setting(
        "",
        "Public base URL used in topic feeds' self links (default: http://HOST:PORT).",
        Check("an http:// or https:// URL", _http_url),
    )
    secret_key: str = setting(
        "",
        "Key that signs session cookies; set it so sessions survive restarts and are shared "
        "by several web processes (default: random per process).",
        secret=True,
    )
    secure_cookies: bool = setting(False, "Mark session cookies Secure (set behind HTTPS).")
    trusted_proxies: str = setting(
        "",
        "Comma-separated CIDR blocks of the reverse proxies in front of the web view (for "
        "example `127.0.0.1/32`). A request from one of them is taken to come from the "
        "right-most address in `X-Forwarded-For` that is not itself a trusted proxy (sign-in "
        "throttling and logs use it). Empty: `X-Forwarded-For` is ignored.",
        Check("comma-separated CIDR blocks such as 127.0.0.1/32,10.0.0.0/8", _networks),
    )
    feed_page_size: int = setting(50, "Entries per topic feed page.", _between(1, 1000))
    feed_page_max: int = setting(200, "Largest `?limit=` a topic feed accepts.", _between(1, 5000))
    web_cache_s: float = setting(
        2.0,
        "Seconds a rendered page or topic feed is reused for anonymous readers. A curator's "
        "change through the web view clears it at once; entries stored by workers appear "
        "within this time. 0 turns the cache off.",
        _between(0, 3600),
    )
    # --- fetching
    allowed_networks: str = setting(
        "",
        "Comma-separated CIDR blocks the fetcher may connect to although they are private, "
        "loopback or reserved (for example `127.0.0.1/32`). Empty: only public addresses.",
        Check("comma-separated CIDR blocks such as 127.0.0.0/8,10.1.0.0/16", _networks),
    )
    user_agent: str = setting(
        f"aggregator/{__version__} (+{PROJECT_URL})", "User-Agent sent with every request."
    )
    max_connections: int = setting(100, "Open connections at most, all hosts.", _between(1, 10000))
    max_per_host: int = setting(4, "Open connections at most per host.", _between(1, 100))
    connect_timeout_s: float = setting(10.0, "Seconds to connect.", _between(0.1, 600))
    read_timeout_s: float = setting(30.0, "Seconds between two reads.", _between(0.1, 600))
    total_timeout_s: float = setting(60.0, "Seconds for a whole request.", _between(0.1, 3600))
    max_body_bytes: int = setting(
        10 * 1024 * 1024, "Largest response body read, in bytes.", _between(1024, 2**31)
    )
    max_decompressed_bytes: int = setting(
        50 * 1024 * 1024,
        "Largest body after gzip/deflate/brotli decompression, in bytes.",
        _between(1024, 2**32),
    )
    max_redirects: int = setting(5, "Redirects followed at most.", _between(0, 20))
    # --- scheduling
    poll_tick_s: int = setting(30, "Seconds between two scheduler ticks.", _between(1, 3600))
    poll_concurrency: int = setting(32, "Feeds polled at once per worker.", _between(1, 1000))
    claim_batch: int = setting(200, "Due feeds claimed per tick at most.", _between(1, 100000))
    lease_s: int = setting(
        600, "Seconds a claimed feed stays leased to a worker.", _between(10, 86400)
    )
    min_interval_s: int = setting(
        900, "Shortest poll interval of a feed, in seconds.", _between(60, 86400)
    )
    max_interval_s: int = setting(
        86400, "Longest poll interval of a healthy feed, in seconds.", _between(60, 7 * 86400)
    )
    max_backoff_s: int = setting(
        86400, "Longest wait after repeated errors, in seconds.", _between(60, 7 * 86400)
    )
    broken_after_s: int = setting(
        14 * 86400,
        "Seconds of continuous failure after which a feed is marked broken.",
        _between(3600, 365 * 86400),
    )
    jitter_fraction: float = setting(
        0.1, "Random share added to poll intervals to spread load.", _between(0, 1)
    )
    cpu_workers: int = setting(
        0,
        "Processes that parse feeds and extract articles (CPU-bound work). 0: one per core, "
        "at most 4; 1: a thread of the worker process instead of separate processes.",
        _between(0, 64),
    )
    document_cpu_limit_s: float = setting(
        10.0,
        "Seconds of CPU time one feed document (parsing) or article page (extraction) may "
        "cost in a CPU worker; past it the document is skipped and the error stored on the "
        "feed or the article. A worker stuck in a C library is ended at about twice the "
        "limit and the pool restarted. With `cpu_workers` 1 (threads) Python code is "
        "stopped at the limit but a long C call runs to its end. 0 turns the limit off.",
        _between(0, 3600),
    )
    worker_id: str = setting("", "Name of this worker in leases and logs (default: host:pid).")
    max_entries_per_feed: int = setting(
        5000, "Entries read from one feed document at most.", _between(1, 1000000)
    )
    max_updates_per_entry: int = setting(
        20, "Times one entry's content may change before updates are ignored.", _between(0, 10000)
    )
    # --- articles and topics
    fetch_articles: bool = setting(True, "Fetch each entry's page and extract the article.")
    article_concurrency: int = setting(8, "Article pages fetched at once.", _between(1, 1000))
    site_rules_file: str = setting(
        "", "TOML file of extra per-site extraction rules (added to the shipped ones)."
    )
    topics_file: str = setting(
        "", "TOML file of topics imported into an empty database (default: the shipped ones)."
    )
    import_opml: str = setting(
        "feeds.opml", "OPML file imported when the database has no feeds (empty: none)."
    )
    # --- retention and logs
    retention_days: int = setting(
        180,
        "Entries older than this are pruned (never pinned or approved ones).",
        _between(1, 100000),
    )
    fetch_log_days: int = setting(30, "Days of fetch log kept.", _between(1, 3650))
    log_level: str = setting("INFO", "Log level.", _one_of(*LOG_LEVELS))
    log_format: str = setting("plain", "Log format.", _one_of("plain", "json"))

    def public_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    def effective_worker_id(self) -> str:
        import socket

        return self.worker_id or f"{socket.gethostname()}:{os.getpid()}"

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict with secrets masked (for `config show` and logs)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "***" if f.metadata.get("secret") and value else value
        return out


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _convert(name: str, raw: Any, kind: Any, source: str) -> Any:
    """Convert a raw value (string from the environment, or TOML value) to the field type."""
    where = f"{source}{name}={raw!r} is not allowed"
    if kind in (bool, "bool"):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{where}: true or false")
    if kind in (int, "int"):
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: a whole number")
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{where}: a whole number") from None
    if kind in (float, "float"):
        if isinstance(raw, bool):
            raise ConfigError(f"{where}: a number")
        try:
            return float(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{where}: a number") from None
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: a string")
    return raw


def _field_kinds() -> dict[str, Any]:
    return {f.name: f.type for f in fields(Settings)}


def load_settings(
    config_path: Path | str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the effective settings; raise ConfigError (one line) on any wrong value."""
    env = os.environ if env is None else env
    kinds = _field_kinds()
    values: dict[str, Any] = {}

    if config_path is not None:
        path = Path(config_path)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        table = document.get("aggregator", document)
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: [aggregator] must be a table")
        for key, raw in table.items():
            if key not in kinds:
                raise ConfigError(
                    f"config file {path}: unknown setting {key!r} "
                    "(see `aggregator config show` for the names)"
                )
            values[key] = _convert(key, raw, kinds[key], f"config file {path}: ")

    for name, kind in kinds.items():
        var = env_name(name)
        if var in env:
            values[name] = _convert(var, env[var], kind, "")

    for key, raw in (overrides or {}).items():
        if key not in kinds:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = _convert(key, raw, kinds[key], "")

    settings = replace(Settings(), **values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    for f in fields(settings):
        check: Check | None = f.metadata.get("check")
        value = getattr(settings, f.name)
        if check is not None and not check.test(value):
            raise ConfigError(f"{env_name(f.name)}={value!r} is not allowed: {check.allowed}")
    if settings.min_interval_s > settings.max_interval_s:
        raise ConfigError(
            f"{env_name('min_interval_s')}={settings.min_interval_s} is larger than "
            f"{env_name('max_interval_s')}={settings.max_interval_s}: allowed: min <= max"
        )


def render_docs() -> str:
    """The text of docs/configuration.md, generated from the registry."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from aggregator/config.py by `aggregator config docs`; do not edit. -->",
        "",
        "Every setting can be given in the environment as `AGGREGATOR_<NAME>` or in a TOML",
        "file passed with `--config FILE` (keys as in the first column, at the top level or",
        "under `[aggregator]`). The environment wins over the file. A wrong value stops",
        "start-up with one line naming the setting, the value and what is allowed.",
        "`aggregator config show` prints the effective settings.",
        "",
        "| setting | environment variable | default | allowed | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in fields(Settings):
        check: Check | None = f.metadata.get("check")
        default = f.default if f.default is not MISSING else ""
        shown = "(empty)" if default == "" else f"`{default}`"
        allowed = (
            check.allowed
            if check
            else {"bool": "true or false", "int": "a whole number", "float": "a number"}.get(
                str(f.type), "text"
            )
        )
        lines.append(
            f"| `{f.name}` | `{env_name(f.name)}` | {shown} | {allowed} | {f.metadata['help']} |"
        )
    lines.append("")
    return "\n".join(lines)
