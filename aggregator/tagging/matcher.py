"""Match compiled topics against documents: a score, a decision and an explanation. Pure."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aggregator.tagging.compiler import (
    FIELDS,
    IGNORE_SYMBOL,
    IGNORED,
    CompiledRulePart,
    CompiledTopic,
    Hit,
)
from aggregator.tagging.document import PreparedDocument, TaggableDocument, prepare
from aggregator.tagging.scanner import MultiScanner

EVIDENCE_PER_PART = 3
SNIPPET_CONTEXT = 60
SNIPPET_MAX = 240
ALL_FIELDS = frozenset(FIELDS)


@dataclass(frozen=True, slots=True)
class MatchResult:
    """One topic's verdict on one document; ``explanation`` is JSON-serialisable."""

    topic_slug: str
    matched: bool
    score: float
    explanation: dict[str, Any]
    fired: tuple[str, ...] = ()  # ids of the rule parts that fired


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """What a rule change would do: documents newly tagged, no longer tagged, and the rest."""

    added: tuple[tuple[str | int | None, MatchResult], ...] = ()
    removed: tuple[tuple[str | int | None, MatchResult], ...] = ()
    unchanged_count: int = 0


@dataclass(slots=True)
class _Unit:
    key: tuple[str, int]
    hits: list[Hit]
    symbols: frozenset[str]


def _scan(
    topic: CompiledTopic,
    spans: list[tuple[int, int]],
    lower: str,
    original: str,
    in_title: bool,
    lead_end: int,
) -> list[Hit]:
    # The hot loop of tagging: keep it to dictionary lookups.
    hits: list[Hit] = []
    append = hits.append
    fast = topic.fast_symbols
    case_spans = topic.case_symbols
    hidden_until = -1  # end of the ignore phrase being read; spans are in start order
    for start, end in spans:
        span_lower = lower[start:end]
        symbols = fast.get(span_lower)
        if symbols is None:
            span_original = original[start:end]
            symbols = case_spans.get(span_original)
            if symbols is None:
                symbols = topic.lookup(span_lower, span_original)
        if not symbols:
            continue  # a {CASE} term in the wrong case
        if symbols is IGNORED or IGNORE_SYMBOL in symbols:
            hidden_until = max(hidden_until, end)
            continue
        if end <= hidden_until:
            continue  # inside an ignore phrase
        if in_title:
            append(Hit(start, end, symbols, True, "title"))
        else:
            append(Hit(start, end, symbols, False, "lead" if start < lead_end else "body"))
    return hits


def _scope_units(doc: PreparedDocument, hits: list[Hit], scope: str) -> list[_Unit]:
    """Hits grouped by the sentence or paragraph they fall in (the title is one unit)."""
    if scope == "document":
        return [_document_unit(hits)]
    starts = doc.sentence_starts if scope == "sentence" else doc.paragraph_starts
    groups: dict[int, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(-1 if hit.in_title else bisect_right(starts, hit.start), []).append(hit)
    return [
        _Unit(
            ("title", 0) if index < 0 else (scope, index - 1),
            group,
            # One hit (the usual case): its own frozen set serves, read-only.
            group[0].symbols if len(group) == 1 else frozenset().union(*[h.symbols for h in group]),
        )
        for index, group in groups.items()
    ]


def _document_unit(hits: list[Hit]) -> _Unit:
    return _Unit(("document", 0), hits, frozenset().union(*[hit.symbols for hit in hits]))


def _units_for(
    doc: PreparedDocument,
    hits: list[Hit],
    scope: str,
    fields: frozenset[str],
    cache: dict[tuple[str, frozenset[str]], list[_Unit]],
) -> list[_Unit]:
    """The units a rule part is evaluated on; a unit belongs to the field where it starts."""
    key = (scope, fields)
    units = cache.get(key)
    if units is not None:
        return units
    if len(fields) == len(FIELDS):
        units = _scope_units(doc, hits, scope)
    elif scope == "document":
        kept = [hit for hit in hits if hit.field in fields]
        units = [_document_unit(kept)] if kept else []
    else:
        every = _units_for(doc, hits, scope, ALL_FIELDS, cache)
        units = [unit for unit in every if unit.hits[0].field in fields]
    cache[key] = units
    return units


def _snippet(text: str, start: int, end: int, lower_bound: int, upper_bound: int) -> str:
    left = max(lower_bound, start - SNIPPET_CONTEXT)
    right = min(upper_bound, end + SNIPPET_CONTEXT, left + SNIPPET_MAX)
    piece = " ".join(text[left:right].split())
    if left > lower_bound:
        piece = "…" + piece
    if right < upper_bound:
        piece += "…"
    return piece


def _evidence(doc: PreparedDocument, unit: _Unit, part: CompiledRulePart) -> dict[str, Any]:
    shown = [h for h in unit.hits if not h.symbols.isdisjoint(part.positive_symbols)] or unit.hits
    first = shown[0]
    same_field = [h for h in shown if h.in_title == first.in_title]
    text = doc.title if first.in_title else doc.text
    if unit.key[0] in ("sentence", "paragraph"):
        lower_bound, upper_bound = doc.unit_span(unit.key[1], unit.key[0])
    else:
        lower_bound, upper_bound = 0, len(text)
    terms: dict[str, None] = {}  # in order of appearance, each once (a dict: linear time)
    for hit in shown:
        source = doc.title if hit.in_title else doc.text
        terms.setdefault(" ".join(source[hit.start : hit.end].split()))
    return {
        "field": first.field,
        "terms": list(terms),
        "snippet": _snippet(text, first.start, same_field[-1].end, lower_bound, upper_bound),
    }


def _field_weight(topic: CompiledTopic, unit: _Unit) -> float:
    """A sentence or paragraph counts with the weight of its field (title, lead or body);
    a document-wide match with the best field among its hits."""
    if unit.key[0] == "document":
        return max(topic.weights[hit.field] for hit in unit.hits)
    return topic.weights[unit.hits[0].field]


def match(topic: CompiledTopic, document: TaggableDocument | PreparedDocument) -> MatchResult:
    """Score one document against one topic and explain the verdict.

    The explanation: ``topic``, ``matched``, ``score``, ``threshold``, ``fired`` (rule-part
    ids) and ``parts``: per fired part its ``id``, ``match``, ``scope``, ``weight``, ``units``
    (how many sentences/paragraphs it held in), ``contribution``, ``capped`` and up to three
    ``evidence`` items (``field``, matched ``terms``, ``snippet``); ``missing_required`` lists
    required parts that did not fire.
    """
    doc = prepare(document)
    title_spans = topic.scanner.spans(doc.title_lower)
    text_spans = topic.scanner.spans(doc.text_lower) if doc.text else []
    return _match(topic, doc, title_spans, text_spans)


def _match(
    topic: CompiledTopic,
    doc: PreparedDocument,
    title_spans: list[tuple[int, int]],
    text_spans: list[tuple[int, int]],
) -> MatchResult:
    lead_end = doc.lead_end(topic.lead_sentences) if doc.text else 0
    hits = _scan(topic, title_spans, doc.title_lower, doc.title, True, 0)
    if text_spans:
        hits.extend(_scan(topic, text_spans, doc.text_lower, doc.text, False, lead_end))
    score = 0.0
    fired: list[str] = []
    parts: list[dict[str, Any]] = []
    missing_required: list[str] = []
    units_cache: dict[tuple[str, frozenset[str]], list[_Unit]] = {}
    present: set[str] = set().union(*[hit.symbols for hit in hits])
    for part in topic.rules:
        fired_units: list[_Unit] = []
        total = 0.0
        # Skip parts whose terms are absent before grouping any hits.
        possible = part.required_symbols <= present and not present.isdisjoint(
            part.positive_symbols
        )
        units = _units_for(doc, hits, part.scope, part.fields, units_cache) if possible else ()
        for unit in units:
            if not part.evaluate(unit.symbols, unit.hits, doc):
                continue
            fired_units.append(unit)
            if part.count == "units":
                total += part.weight * _field_weight(topic, unit)
        if part.count == "share":
            # A share is of the text's units: a part true only in the title has not fired.
            fired_units = [unit for unit in fired_units if unit.key[0] != "title"]
            units_in_text = doc.unit_count(part.scope)
            share = len(fired_units) / units_in_text if units_in_text else 0.0
            total = part.weight * share
        if not fired_units:
            if part.required:
                missing_required.append(part.id)
            continue
        capped = part.max is not None and abs(total) > part.max
        if capped and part.max is not None:
            total = part.max if total > 0 else -part.max
        score += total
        fired.append(part.id)
        entry: dict[str, Any] = {
            "id": part.id,
            "match": part.match,
            "scope": part.scope,
            "weight": part.weight,
            "units": len(fired_units),
            "contribution": round(total, 3),
            "capped": capped,
            "evidence": [_evidence(doc, u, part) for u in fired_units[:EVIDENCE_PER_PART]],
        }
        if part.count == "share":
            entry["count"] = "share"
        parts.append(entry)
    score = round(score, 3)
    matched = score >= topic.threshold and not missing_required
    explanation: dict[str, Any] = {
        "topic": topic.slug,
        "matched": matched,
        "score": score,
        "threshold": topic.threshold,
        "fired": list(fired),
        "parts": parts,
    }
    if missing_required:
        explanation["missing_required"] = missing_required
    return MatchResult(topic.slug, matched, score, explanation, tuple(fired))


def match_all(
    topics: Sequence[CompiledTopic], document: TaggableDocument | PreparedDocument
) -> list[MatchResult]:
    """Match every topic, splitting the document once and scanning it once for all topics."""
    doc = prepare(document)
    if len(topics) < 2:
        return [match(topic, doc) for topic in topics]
    scanner = _union_scanner(topics)
    title_spans = scanner.spans(doc.title_lower)
    text_spans = scanner.spans(doc.text_lower) if doc.text else [[] for _ in topics]
    return [
        _match(topic, doc, title, text)
        for topic, title, text in zip(topics, title_spans, text_spans, strict=True)
    ]


# Union scanners for the topic lists match_all sees (normally one list, reused for every
# article); keyed by identity and holding the topics so an id cannot be reused meanwhile.
_UNION_SCANNERS: dict[tuple[int, ...], tuple[tuple[CompiledTopic, ...], MultiScanner]] = {}
_UNION_LIMIT = 16


def _union_scanner(topics: Sequence[CompiledTopic]) -> MultiScanner:
    key = tuple(id(topic) for topic in topics)
    cached = _UNION_SCANNERS.get(key)
    if cached is not None:
        return cached[1]
    if len(_UNION_SCANNERS) >= _UNION_LIMIT:
        _UNION_SCANNERS.clear()
    scanner = MultiScanner([topic.scanner.terms for topic in topics])
    _UNION_SCANNERS[key] = (tuple(topics), scanner)
    return scanner


def preview(
    old: CompiledTopic | None, new: CompiledTopic, docs: Iterable[TaggableDocument]
) -> PreviewResult:
    """What replacing ``old`` by ``new`` would add and remove among ``docs`` (by ``doc.id``)."""
    added: list[tuple[str | int | None, MatchResult]] = []
    removed: list[tuple[str | int | None, MatchResult]] = []
    unchanged = 0
    for document in docs:
        doc = prepare(document)
        before = match(old, doc) if old is not None else None
        after = match(new, doc)
        was = before is not None and before.matched
        if after.matched and not was:
            added.append((document.id, after))
        elif was and not after.matched and before is not None:
            removed.append((document.id, before))
        else:
            unchanged += 1
    return PreviewResult(tuple(added), tuple(removed), unchanged)
