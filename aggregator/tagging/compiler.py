"""Compile a topic definition (TOML text) once into a matcher that is reused for every article.

A definition (the ``definition`` of a stored topic) looks like this::

    threshold = 6            # the score an article needs to be tagged
    lead_sentences = 2       # the lead: the first sentences of the text
    ignore = ["Washington Post"]   # phrases read as nothing (they hide the words inside them)

    [weights]                # how much a hit counts by where it is
    title = 3.0
    lead = 2.0
    body = 1.0

    [groups]                 # named groups of aliases (terms; "@other" includes a group)
    us = ["United States", "U.S.", "{US}", "White House", "Pentagon"]
    iran = ["Iran", "Iranian*", "Tehran", "IRGC"]

    [[rules]]                # rule parts; the score is the sum of their contributions
    id = "us-iran-sentence"  # stable id: curator feedback is counted per rule part
    match = "@us AND @iran"  # expression (see aggregator.tagging.language)
    scope = "sentence"       # sentence | paragraph | document: where the expression must hold
    weight = 1.0             # per matching unit, times the field weight (negative: counts against)
    max = 6                  # cap on this part's total (absolute value)
    fields = ["title", "lead", "body"]   # optional: only hits in these fields count
    count = "units"          # units (sum per unit) | share (weight x share of text units)
    required = false         # true: no match unless this part fired

Every error is a RuleError naming the key, the term and the position.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from aggregator.errors import RuleError
from aggregator.tagging.document import PreparedDocument, WordIndex, words_between
from aggregator.tagging.language import (
    AndNode,
    GroupNode,
    NearNode,
    Node,
    NotNode,
    OrNode,
    TermNode,
    TermSpec,
    check_group_name,
    iter_nodes,
    parse_expression,
    parse_term,
)
from aggregator.tagging.scanner import TermScanner

SCOPES = ("sentence", "paragraph", "document")
FIELDS = ("title", "lead", "body")
COUNTS = ("units", "share")
DEFAULT_WEIGHTS = {"title": 3.0, "lead": 2.0, "body": 1.0}
MAX_TERM_LENGTH = 100
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9_.\-]*")
_TOP_KEYS = ("threshold", "lead_sentences", "ignore", "weights", "groups", "rules")
_RULE_KEYS = ("id", "match", "scope", "weight", "max", "fields", "count", "required", "note")
_SPAN_CACHE_LIMIT = 50_000
# The symbols of an ignore phrase: it counts for nothing and hides the terms inside it.
IGNORE_SYMBOL = "!ignore"
IGNORED = frozenset({IGNORE_SYMBOL})


@dataclass(slots=True)  # not frozen: frozen dataclasses are slow to build, and hits are many
class Hit:
    """One term occurrence: offsets into the title or the text, and the symbols it carries."""

    start: int
    end: int
    symbols: frozenset[str]
    in_title: bool
    field: str  # title | lead | body


# Evaluates an expression over one unit: (symbols present, hits in the unit, the document).
Evaluator = Callable[[AbstractSet[str], list[Hit], PreparedDocument], bool]
# NEAR with at most this many (left, right) pairs in a field reads the words between each
# pair; with more, it sweeps over the hits with the document's word index.
PAIRWISE_LIMIT = 16


@dataclass(frozen=True, slots=True)
class CompiledRulePart:
    id: str
    match: str
    scope: str
    weight: float
    max: float | None
    fields: frozenset[str]
    count: str
    required: bool
    evaluate: Evaluator
    positive_symbols: frozenset[str]  # symbols whose hits are shown as evidence
    required_symbols: frozenset[str] = frozenset()  # all must occur for the part to fire


# (case-folded full-match regex, exact-case regex for a {TERM} or None, symbols)
ExactTerm = tuple[re.Pattern[str], re.Pattern[str] | None, frozenset[str]]


def _first_character(term: str) -> str | None:
    """The character every span of ``term`` starts with, lower-cased; None unless ASCII (a
    case-insensitive match may pair other characters with ASCII ones: K and the Kelvin sign)."""
    first = term[:1].lower()
    return first if first.isascii() else None


@dataclass(slots=True)
class CompiledTopic:
    """A topic ready to match: one combined scanner for every term of every group and rule."""

    slug: str
    name: str
    definition: str
    threshold: float
    lead_sentences: int
    weights: dict[str, float]
    rules: tuple[CompiledRulePart, ...]
    scanner: TermScanner
    # (case-folded full-match regex, exact-case regex for {TERM}s or None, symbols)
    exact_terms: tuple[ExactTerm, ...]
    exact_keys: tuple[str, ...]  # the text of each exact term, as written
    # The exact terms that may match a span, by the span's first character when it is ASCII
    # (terms starting with that character, and every term that starts with another kind);
    # built on first use. Each new span is tried against a few terms, not all of them.
    _terms_by_first: dict[str, tuple[ExactTerm, ...]] | None = None
    _span_cache: dict[str, tuple[frozenset[str], bool]] = field(default_factory=dict)
    _case_cache: dict[str, frozenset[str]] = field(default_factory=dict)
    # Raw scanned span -> symbols, for spans no case-sensitive term can match (the fast path),
    # and raw original span -> symbols for the others ("us" vs "US").
    fast_symbols: dict[str, frozenset[str]] = field(default_factory=dict)
    case_symbols: dict[str, frozenset[str]] = field(default_factory=dict)

    def lookup(self, span_lower: str, span_original: str) -> frozenset[str]:
        """Symbols of a scanned span that missed ``fast_symbols`` (remembered when possible)."""
        key_lower = " ".join(span_lower.split())
        key_original = " ".join(span_original.split())
        symbols = self.symbols_for(key_lower, key_original)
        memo, key = (
            (self.case_symbols, span_original)
            if self._span_cache[key_lower][1]
            else (self.fast_symbols, span_lower)
        )
        if len(memo) > _SPAN_CACHE_LIMIT:
            memo.clear()
        memo[key] = symbols
        return symbols

    def _terms_for(self, span_lower: str) -> tuple[ExactTerm, ...]:
        if self._terms_by_first is None:
            by_first: dict[str, list[ExactTerm]] = {}
            others: list[ExactTerm] = []
            for key, term in zip(self.exact_keys, self.exact_terms, strict=True):
                first = _first_character(key)
                (others if first is None else by_first.setdefault(first, [])).append(term)
            self._terms_by_first = {
                first: (*terms, *others) for first, terms in by_first.items()
            } | {"": tuple(others)}
        first = _first_character(span_lower)
        if first is None:
            return self.exact_terms
        terms = self._terms_by_first.get(first)
        return self._terms_by_first[""] if terms is None else terms

    def symbols_for(self, span_lower: str, span_original: str) -> frozenset[str]:
        """Symbols carried by a scanned span (cached: the vocabulary of hits is small).

        Both spans have their whitespace collapsed to single spaces.
        """
        cached = self._span_cache.get(span_lower)
        if cached is None:
            insensitive: set[str] = set()
            has_case_sensitive = False
            for folded, exact, symbols in self._terms_for(span_lower):
                if folded.fullmatch(span_lower):
                    if exact is None:
                        insensitive |= symbols
                    else:
                        has_case_sensitive = True
            cached = (frozenset(insensitive), has_case_sensitive)
            if len(self._span_cache) > _SPAN_CACHE_LIMIT:
                self._span_cache.clear()
            self._span_cache[span_lower] = cached
        symbols, has_case_sensitive = cached
        if not has_case_sensitive:
            return symbols
        exact_symbols = self._case_cache.get(span_original)
        if exact_symbols is None:
            found: set[str] = set()
            for _, exact, term_symbols in self._terms_for(span_lower):
                if exact is not None and exact.fullmatch(span_original):
                    found |= term_symbols
            exact_symbols = frozenset(found)
            if len(self._case_cache) > _SPAN_CACHE_LIMIT:
                self._case_cache.clear()
            self._case_cache[span_original] = exact_symbols
        return symbols | exact_symbols if exact_symbols else symbols


# ---------------------------------------------------------------------------
# Validation helpers


def _unknown_key(key: str, allowed: Iterable[str], where: str) -> RuleError:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return RuleError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(allowed)}")


def _number(value: Any, where: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{where}: expected a number, got {value!r}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise RuleError(f"{where}: expected a finite number, got {value!r}")
    if positive and number <= 0:
        raise RuleError(f"{where}: must be greater than 0, got {value!r}")
    return number


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RuleError(f"{where}: expected a string, got {value!r}")
    return value


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise RuleError(f"{where}: expected a list of strings, got {value!r}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise RuleError(f"{where}[{index}]: expected a string, got {item!r}")
    return value


def _term(text: str, where: str) -> TermSpec:
    if len(text) > MAX_TERM_LENGTH:
        raise RuleError(f"{where}: term is longer than {MAX_TERM_LENGTH} characters")
    return parse_term(text, where)


# ---------------------------------------------------------------------------
# Groups


def _resolve_groups(raw: Any) -> dict[str, list[tuple[TermSpec, str]]]:
    """Group name -> its terms (with nested @groups expanded), each with where it was written."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RuleError(f"groups: expected a table of name = [aliases], got {raw!r}")
    direct: dict[str, list[tuple[TermSpec, str]]] = {}
    includes: dict[str, list[tuple[str, str]]] = {}
    for name, aliases in raw.items():
        where = f"groups.{name}"
        check_group_name(name, "groups")
        items = _string_list(aliases, where)
        if not items:
            raise RuleError(f"{where}: a group needs at least one alias")
        direct[name] = []
        includes[name] = []
        for index, alias in enumerate(items):
            alias_where = f"{where}[{index}]"
            stripped = alias.strip()
            if stripped.startswith("@"):
                check_group_name(stripped[1:], alias_where)
                includes[name].append((stripped[1:], alias_where))
            else:
                direct[name].append((_term(alias, alias_where), alias_where))

    resolved: dict[str, list[tuple[TermSpec, str]]] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> list[tuple[TermSpec, str]]:
        if name in resolved:
            return resolved[name]
        terms = list(direct[name])
        for included, where in includes[name]:
            if included in chain or included == name:
                raise RuleError(
                    f"{where}: @{included} includes itself ({' > '.join((*chain, name, included))})"
                )
            if included not in direct:
                raise RuleError(f"{where}: unknown group @{included}")
            terms.extend(resolve(included, (*chain, name)))
        resolved[name] = terms
        return terms

    for name in direct:
        resolve(name, ())
    return resolved


# ---------------------------------------------------------------------------
# Expressions


def _positive(node: Node) -> set[str]:
    if isinstance(node, TermNode):
        return {"=" + node.term.key}
    if isinstance(node, GroupNode):
        return {"@" + node.name}
    if isinstance(node, NotNode):
        return set()
    if isinstance(node, NearNode):
        return _positive(node.left) | _positive(node.right)
    result: set[str] = set()
    for operand in node.operands:
        result |= _positive(operand)
    return result


def _symbol_of(node: Node) -> str | None:
    if isinstance(node, TermNode):
        return "=" + node.term.key
    if isinstance(node, GroupNode):
        return "@" + node.name
    return None


def _required(node: Node) -> set[str]:
    """Symbols that must all occur somewhere for the expression to be true."""
    symbol = _symbol_of(node)
    if symbol is not None:
        return {symbol}
    if isinstance(node, AndNode):
        return set().union(*(_required(o) for o in node.operands if not isinstance(o, NotNode)))
    if isinstance(node, NearNode):
        return _required(node.left) | _required(node.right)
    return set()


def _compile_evaluator(node: Node) -> Evaluator:
    # Terms and groups become set operations so common expressions cost one C call per unit.
    symbol = _symbol_of(node)
    if symbol is not None:
        return lambda symbols, hits, doc: symbol in symbols
    if isinstance(node, NotNode):
        negated = _symbol_of(node.operand)
        if negated is not None:
            return lambda symbols, hits, doc: negated not in symbols
        inner = _compile_evaluator(node.operand)
        return lambda symbols, hits, doc: not inner(symbols, hits, doc)
    if isinstance(node, AndNode | OrNode):
        simple = frozenset(s for s in map(_symbol_of, node.operands) if s is not None)
        rest = tuple(_compile_evaluator(o) for o in node.operands if _symbol_of(o) is None)
        if isinstance(node, AndNode):
            if not rest:
                return lambda symbols, hits, doc: simple <= symbols
            if len(rest) == 1:
                (only,) = rest
                return lambda symbols, hits, doc: simple <= symbols and only(symbols, hits, doc)
            return lambda symbols, hits, doc: (
                simple <= symbols and all(check(symbols, hits, doc) for check in rest)
            )
        if not rest:
            return lambda symbols, hits, doc: not simple.isdisjoint(symbols)
        if not simple and len(rest) == 2:
            first, second = rest
            return lambda symbols, hits, doc: (
                first(symbols, hits, doc) or second(symbols, hits, doc)
            )
        return lambda symbols, hits, doc: (
            not simple.isdisjoint(symbols) or any(check(symbols, hits, doc) for check in rest)
        )
    assert isinstance(node, NearNode)
    left = frozenset(_positive(node.left))
    right = frozenset(_positive(node.right))
    distance = node.distance

    def near(symbols: AbstractSet[str], hits: list[Hit], doc: PreparedDocument) -> bool:
        if symbols.isdisjoint(left) or symbols.isdisjoint(right):
            return False
        return near_hits(hits, left, right, distance, doc)

    return near


def near_hits(
    hits: list[Hit],
    left: AbstractSet[str],
    right: AbstractSet[str],
    distance: int,
    doc: PreparedDocument,
) -> bool:
    """Whether a hit on ``left`` and another hit on ``right``, in the same field (title or
    text), have at most ``distance`` words between them (0 when they touch or overlap).

    A few pairs (the usual case: a sentence) are checked one by one, reading the words
    between. More are checked in one sweep over the hits in start order: for each hit, the
    hits of the other side that start earlier are summed up by the furthest end and the
    furthest word number reached, so each hit is looked at once (O(k log n) for k hits)
    instead of with every other hit, and no text is read twice.
    """
    fields: tuple[list[tuple[Hit, bool, bool]], list[tuple[Hit, bool, bool]]] = ([], [])
    pairs = [[0, 0], [0, 0]]  # per field (text, title): left hits, right hits
    for hit in hits:
        is_left = not hit.symbols.isdisjoint(left)
        is_right = not hit.symbols.isdisjoint(right)
        if is_left or is_right:
            fields[hit.in_title].append((hit, is_left, is_right))
            counts = pairs[hit.in_title]
            counts[0] += is_left
            counts[1] += is_right
    for in_title in (True, False):
        side = fields[in_title]
        lefts, rights = pairs[in_title]
        if not lefts or not rights:
            continue
        if lefts * rights <= PAIRWISE_LIMIT:
            if _near_pairs(side, distance, doc.field_lower(in_title)):
                return True
        elif _near_sweep(side, distance, doc.words(in_title)):
            return True
    return False


def _near_pairs(hits: list[tuple[Hit, bool, bool]], distance: int, text: str) -> bool:
    for a, is_left, _ in hits:
        if not is_left:
            continue
        for b, _, is_right in hits:
            if not is_right or a is b:
                continue
            first, second = (b, a) if a.start > b.start else (a, b)
            if second.start <= first.end:
                return True
            if words_between(text, first.end, second.start) <= distance:
                return True
    return False


def _near_sweep(hits: list[tuple[Hit, bool, bool]], distance: int, index: WordIndex) -> bool:
    hits.sort(key=lambda item: item[0].start)
    # Over the hits that start before the current one, per side: the furthest end, and the
    # highest word number counted from after an end (words between = before(start) - that).
    end_left = end_right = -1
    after_left: int | None = None
    after_right: int | None = None
    count = len(hits)
    i = 0
    while i < count:
        start = hits[i][0].start
        j = i + 1
        while j < count and hits[j][0].start == start:
            j += 1
        group = hits[i:j]
        if j - i > 1:  # hits starting together overlap: any left with any other right
            lefts = [hit for hit, is_left, _ in group if is_left]
            rights = [hit for hit, _, is_right in group if is_right]
            if (
                lefts
                and rights
                and (len(lefts) > 1 or len(rights) > 1 or lefts[0] is not rights[0])
            ):
                return True
        before = -1
        for _, is_left, is_right in group:
            for earlier_end, earlier_after in (
                (end_right, after_right) if is_left else (-1, None),
                (end_left, after_left) if is_right else (-1, None),
            ):
                if earlier_after is None:
                    continue
                if start <= earlier_end:
                    return True
                if before < 0:
                    before = index.before(start)
                if before - earlier_after <= distance:
                    return True
        for hit, is_left, is_right in group:
            after = index.after_end(hit.end)
            if is_left:
                end_left = max(end_left, hit.end)
                after_left = after if after_left is None else max(after_left, after)
            if is_right:
                end_right = max(end_right, hit.end)
                after_right = after if after_right is None else max(after_right, after)
        i = j
    return False


# ---------------------------------------------------------------------------
# Rule parts


def _compile_rule(
    raw: Any, index: int, groups: dict[str, list[tuple[TermSpec, str]]], seen_ids: set[str]
) -> tuple[CompiledRulePart, list[TermSpec]]:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: expected a table ([[rules]]), got {raw!r}")
    for key in raw:
        if key not in _RULE_KEYS:
            raise _unknown_key(key, _RULE_KEYS, where)
    if "id" not in raw:
        raise RuleError(f"{where}: missing key 'id' (a stable name for this rule part)")
    rule_id = _string(raw["id"], f"{where}.id")
    if not _RULE_ID.fullmatch(rule_id):
        raise RuleError(
            f"{where}.id: {rule_id!r} must be lower case letters, digits, '.', '_' or '-'"
        )
    if rule_id in seen_ids:
        raise RuleError(f"{where}.id: duplicate rule part id {rule_id!r}")
    seen_ids.add(rule_id)
    where = f"rules[{index}] ({rule_id})"
    if "match" not in raw:
        raise RuleError(f"{where}: missing key 'match' (an expression such as \"@us AND @iran\")")
    expression = _string(raw["match"], f"{where}.match")
    try:
        node = parse_expression(expression, f"{where}.match {expression!r}")
    except RecursionError:
        raise RuleError(f"{where}.match: expression is nested too deeply") from None
    literal_terms: list[TermSpec] = []
    for child in iter_nodes(node):
        if isinstance(child, GroupNode) and child.name not in groups:
            known = ", ".join(sorted(groups)) or "none defined"
            raise RuleError(
                f"{where}.match {expression!r}: position {child.position}: unknown group "
                f"@{child.name} (groups: {known})"
            )
        if isinstance(child, TermNode):
            if len(" ".join(child.term.words)) > MAX_TERM_LENGTH:
                raise RuleError(f"{where}.match: term is longer than {MAX_TERM_LENGTH} characters")
            literal_terms.append(child.term)
    scope = _string(raw.get("scope", "sentence"), f"{where}.scope")
    if scope not in SCOPES:
        raise RuleError(f"{where}.scope: {scope!r} is not one of {', '.join(SCOPES)}")
    weight = _number(raw.get("weight", 1.0), f"{where}.weight")
    cap = _number(raw["max"], f"{where}.max", positive=True) if "max" in raw else None
    fields = frozenset(_string_list(raw.get("fields", list(FIELDS)), f"{where}.fields"))
    for name in fields:
        if name not in FIELDS:
            raise RuleError(f"{where}.fields: {name!r} is not one of {', '.join(FIELDS)}")
    if not fields:
        raise RuleError(f"{where}.fields: name at least one field")
    count = _string(raw.get("count", "units"), f"{where}.count")
    if count not in COUNTS:
        raise RuleError(f"{where}.count: {count!r} is not one of {', '.join(COUNTS)}")
    if count == "share" and scope == "document":
        raise RuleError(f"{where}.count: 'share' needs scope sentence or paragraph")
    required = raw.get("required", False)
    if not isinstance(required, bool):
        raise RuleError(f"{where}.required: expected true or false, got {required!r}")
    if "note" in raw:
        _string(raw["note"], f"{where}.note")
    positive = _positive(node)
    part = CompiledRulePart(
        id=rule_id,
        match=expression,
        scope=scope,
        weight=weight,
        max=cap,
        fields=fields,
        count=count,
        required=required,
        evaluate=_compile_evaluator(node),
        positive_symbols=frozenset(positive),
        required_symbols=frozenset(_required(node)),
    )
    return part, literal_terms


def parse_definition(definition_text: str) -> dict[str, Any]:
    """The TOML of one topic definition as a table; RuleError on bad TOML."""
    if not isinstance(definition_text, str):
        raise RuleError("definition: expected TOML text")
    try:
        return tomllib.loads(definition_text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"invalid TOML: {exc}") from None
    except RecursionError:
        raise RuleError("invalid TOML: nested too deeply") from None


def compile_topic(slug: str, name: str, definition_text: str) -> CompiledTopic:
    """Validate and compile a topic definition; RuleError points at the first mistake."""
    data = parse_definition(definition_text)
    return compile_table(slug, name, data, definition_text)


def compile_table(
    slug: str, name: str, data: dict[str, Any], definition_text: str
) -> CompiledTopic:
    for key in data:
        if key not in _TOP_KEYS:
            raise _unknown_key(key, _TOP_KEYS, "definition")
    if "threshold" not in data:
        raise RuleError("definition: missing key 'threshold' (the score an article needs)")
    threshold = _number(data["threshold"], "threshold", positive=True)
    lead_sentences = data.get("lead_sentences", 2)
    if (
        isinstance(lead_sentences, bool)
        or not isinstance(lead_sentences, int)
        or not 0 <= lead_sentences <= 20
    ):
        raise RuleError(
            f"lead_sentences: expected a whole number from 0 to 20, got {lead_sentences!r}"
        )
    weights = dict(DEFAULT_WEIGHTS)
    raw_weights = data.get("weights", {})
    if not isinstance(raw_weights, dict):
        raise RuleError(f"weights: expected a table (title, lead, body), got {raw_weights!r}")
    for key, value in raw_weights.items():
        if key not in FIELDS:
            raise _unknown_key(key, FIELDS, "weights")
        weights[key] = _number(value, f"weights.{key}")
        if weights[key] < 0:
            raise RuleError(f"weights.{key}: must not be negative, got {value!r}")

    groups = _resolve_groups(data.get("groups"))
    ignore = [
        _term(t, f"ignore[{i}]")
        for i, t in enumerate(_string_list(data.get("ignore", []), "ignore"))
    ]

    raw_rules = data.get("rules")
    if raw_rules is None:
        raise RuleError("definition: missing [[rules]]: a topic needs at least one rule part")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError("rules: expected one or more [[rules]] tables")
    seen_ids: set[str] = set()
    rules: list[CompiledRulePart] = []
    literal_terms: list[TermSpec] = []
    for index, raw in enumerate(raw_rules):
        part, terms = _compile_rule(raw, index, groups, seen_ids)
        rules.append(part)
        literal_terms.extend(terms)
    if not any(rule.weight > 0 for rule in rules):
        raise RuleError("rules: at least one rule part needs a positive weight")

    # Every distinct term, with the symbols a hit on it carries.
    symbols: dict[str, set[str]] = {}
    specs: dict[str, TermSpec] = {}

    def add(term: TermSpec, symbol: str | None) -> None:
        specs.setdefault(term.key, term)
        entry = symbols.setdefault(term.key, set())
        entry.add("=" + term.key)
        if symbol:
            entry.add(symbol)

    for group_name, members in groups.items():
        for term, _ in members:
            add(term, "@" + group_name)
    for term in literal_terms:
        add(term, None)
    for term in ignore:
        specs.setdefault(term.key, term)
        symbols.setdefault(term.key, set())

    ignored_keys = {t.key for t in ignore}
    exact_terms: list[ExactTerm] = []
    for key, spec in specs.items():
        term_symbols = IGNORED if key in ignored_keys else frozenset(symbols[key])
        exact = spec.exact_regex(case_sensitive=True) if spec.case_sensitive else None
        exact_terms.append((spec.exact_regex(case_sensitive=False), exact, term_symbols))
    try:
        scanner = TermScanner(specs.values())
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise RuleError(f"definition: the terms cannot be compiled: {exc}") from None
    return CompiledTopic(
        slug=slug,
        name=name,
        definition=definition_text,
        threshold=threshold,
        lead_sentences=lead_sentences,
        weights=weights,
        rules=tuple(rules),
        scanner=scanner,
        exact_terms=tuple(exact_terms),
        exact_keys=tuple(" ".join(spec.words) for spec in specs.values()),
    )
