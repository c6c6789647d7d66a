"""Per-site extraction rules: CSS selectors to take (the article) and to drop (boilerplate).

The package ships ``site_rules.toml`` for the default subscriptions; a curator adds their own
file, whose rules for a host replace the shipped ones. Format::

    [sites."example.com"]          # also matches www.example.com and other subdomains
    take = ["article .entry-content"]   # the article body; first selector that matches wins
    drop = [".sharedaddy", "#comments"] # removed before extraction
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from cssselect import SelectorError
from lxml.cssselect import CSSSelector

from aggregator.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SiteRule:
    host: str
    take: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SiteRules:
    """Rules by host (lowercase, without a leading ``www.``)."""

    by_host: dict[str, SiteRule] = field(default_factory=dict)

    def for_url(self, url: str | None) -> SiteRule | None:
        """The rule for the URL's host or its closest parent domain."""
        if not url:
            return None
        host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
        while host:
            rule = self.by_host.get(host)
            if rule is not None:
                return rule
            _, _, host = host.partition(".")
        return None

    def merged(self, other: SiteRules) -> SiteRules:
        """These rules with ``other``'s rules winning per host."""
        return SiteRules({**self.by_host, **other.by_host})


def _selectors(host: str, key: str, value: object, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{source}: sites.{host}.{key} must be a list of CSS selectors")
    for selector in value:
        try:
            CSSSelector(selector)
        except SelectorError as exc:
            raise ConfigError(
                f"{source}: sites.{host}.{key}: bad CSS selector {selector!r}: {exc}"
            ) from exc
    return tuple(value)


def parse_site_rules(text: str, source: str = "site rules") -> SiteRules:
    """Parse and validate a rules document; errors name the file, the host and the selector."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    sites = data.get("sites", {})
    if not isinstance(sites, dict):
        raise ConfigError(f"{source}: [sites] must be a table of hosts")
    by_host: dict[str, SiteRule] = {}
    for host, table in sites.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: sites.{host} must be a table with take/drop lists")
        unknown = set(table) - {"take", "drop"}
        if unknown:
            raise ConfigError(
                f"{source}: sites.{host}: unknown keys {sorted(unknown)} (use take, drop)"
            )
        key = host.lower().removeprefix("www.")
        by_host[key] = SiteRule(
            host=key,
            take=_selectors(host, "take", table.get("take"), source),
            drop=_selectors(host, "drop", table.get("drop"), source),
        )
    return SiteRules(by_host)


def default_site_rules() -> SiteRules:
    """The rules shipped with the package (for the sources in feeds.opml)."""
    text = resources.files("aggregator.extract").joinpath("site_rules.toml").read_text("utf-8")
    return parse_site_rules(text, "aggregator/extract/site_rules.toml")


_DEFAULT_RULES: SiteRules | None = None


def load_site_rules(path: str | Path | None = None) -> SiteRules:
    """The shipped rules, extended (and per host overridden) by the curator's file at ``path``."""
    global _DEFAULT_RULES
    if _DEFAULT_RULES is None:
        _DEFAULT_RULES = default_site_rules()
    if path is None:
        return _DEFAULT_RULES
    file = Path(path)
    try:
        modified = file.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"cannot read site rules file {file}: {exc.strerror or exc}") from exc
    return _curator_rules(str(file), modified)


@lru_cache(maxsize=8)
def _curator_rules(path: str, modified_ns: int) -> SiteRules:
    """Parsed once per file version (the modification time is part of the cache key)."""
    assert _DEFAULT_RULES is not None
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read site rules file {path}: {exc.strerror or exc}") from exc
    return _DEFAULT_RULES.merged(parse_site_rules(text, path))
