"""The term and expression syntax of topic rules.

Terms (in alias lists and inside expressions):

- ``Iran``, ``nuclear deal``: words and phrases, case-insensitive, whole words only;
  inside an expression a phrase is written in double quotes: ``"White House"``.
- ``sanction*``: ``*`` stands for any word characters (word forms: sanction, sanctions,
  sanctioned ...). A word may not start with ``*``.
- ``{US}``, ``{IRGC}``: braces make a term case-sensitive (``US`` is the country, ``us`` is not).
- ``@iran``: a named group of aliases.

Expressions (the ``match`` of a rule part), in the Boolean style of news-monitoring tools;
operators are upper case, tightest first: ``NOT``, ``NEAR/n``, ``AND``, ``OR``; parentheses group.

    @us AND @iran
    @sanction AND NOT (@sport OR @court)
    @us NEAR/8 (@talks OR "nuclear deal")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aggregator.errors import RuleError

# Characters a term word may hold besides word characters: abbreviations (U.S.), apostrophes,
# hyphens and ampersands (AT&T), and the wildcard.
_TERM_WORD = re.compile(r"[\w.'’&*\-]+")
_GROUP_NAME = re.compile(r"[a-z][a-z0-9_]*")
_NEAR = re.compile(r"NEAR/(\d+)")
_OPERATORS = {"AND", "OR", "NOT"}
MAX_NEAR = 200
# A wildcard stands for at most this many word characters: enough for any real word (the
# longest German compounds in use have about 60 letters), while a term with two wildcards
# (i*a*n) no longer backtracks over a hostile 100,000-letter "word" for 18 s.
WILDCARD_MAX_CHARS = 64
WILDCARD_ATOM = rf"\w{{0,{WILDCARD_MAX_CHARS}}}"


@dataclass(frozen=True, slots=True)
class TermSpec:
    """One alias or literal term: the words as written, and whether case matters."""

    words: tuple[str, ...]
    case_sensitive: bool

    @property
    def text(self) -> str:
        joined = " ".join(self.words)
        return "{" + joined + "}" if self.case_sensitive else joined

    @property
    def key(self) -> str:
        """Identity of the term: two spellings that match the same text share a key."""
        joined = " ".join(self.words)
        return "{" + joined + "}" if self.case_sensitive else joined.lower()

    @property
    def pattern_atoms(self) -> tuple[str, ...]:
        """Regex atoms over lower-cased text (one per character, space or wildcard)."""
        atoms: list[str] = []
        for index, word in enumerate(self.words):
            if index:
                atoms.append(" ")  # scanners read any whitespace character as a space
            for char in word.lower():
                atoms.append(WILDCARD_ATOM if char == "*" else re.escape(char))
        return tuple(atoms)

    def exact_regex(self, *, case_sensitive: bool) -> re.Pattern[str]:
        """Full-match regex over a span whose spaces were collapsed to one."""
        parts = []
        for word in self.words:
            parts.append("".join(WILDCARD_ATOM if c == "*" else re.escape(c) for c in word))
        flags = 0 if case_sensitive else re.IGNORECASE
        return re.compile(" ".join(parts), flags)


def parse_term(text: str, where: str) -> TermSpec:
    """Parse one alias (``nuclear deal``, ``sanction*``, ``{US}``); ``where`` names the key."""
    raw = text.strip()
    case_sensitive = False
    if raw.startswith("{"):
        if not raw.endswith("}") or len(raw) < 3:
            raise RuleError(f"{where}: term {text!r}: a case-sensitive term is written {{TERM}}")
        raw = raw[1:-1].strip()
        case_sensitive = True
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        raw = raw[1:-1].strip()
    if not raw:
        raise RuleError(f"{where}: empty term {text!r}")
    words = tuple(raw.split())
    for word in words:
        if not _TERM_WORD.fullmatch(word):
            bad = next(c for c in word if not _TERM_WORD.fullmatch(c))
            raise RuleError(
                f"{where}: term {text!r}: character {bad!r} is not allowed in a term "
                "(use letters, digits, . ' - & and the wildcard *)"
            )
        if word.startswith("*"):
            raise RuleError(f"{where}: term {text!r}: a word may not start with the wildcard *")
        if not any(c.isalnum() for c in word):
            raise RuleError(f"{where}: term {text!r}: {word!r} has no letter or digit")
        if "**" in word:
            raise RuleError(f"{where}: term {text!r}: use a single * for a wildcard")
    return TermSpec(words, case_sensitive)


def check_group_name(name: str, where: str) -> None:
    if not _GROUP_NAME.fullmatch(name):
        raise RuleError(
            f"{where}: group name {name!r} must be lower case letters, digits and _, "
            "starting with a letter"
        )


# ---------------------------------------------------------------------------
# Expression syntax tree


@dataclass(frozen=True, slots=True)
class TermNode:
    term: TermSpec


@dataclass(frozen=True, slots=True)
class GroupNode:
    name: str
    position: int


@dataclass(frozen=True, slots=True)
class NotNode:
    operand: Node


@dataclass(frozen=True, slots=True)
class AndNode:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class OrNode:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class NearNode:
    left: Node
    right: Node
    distance: int  # at most this many words between the two terms


Node = TermNode | GroupNode | NotNode | AndNode | OrNode | NearNode


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "term", "group", "and", "or", "not", "near", "(", ")"
    position: int  # 1-based column in the expression, for messages
    value: str = ""
    term: TermSpec | None = None
    distance: int = 0


_CLOSERS = {'"': '"', "{": "}"}


def _tokenize(expression: str, where: str) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    length = len(expression)
    while index < length:
        char = expression[index]
        column = index + 1
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(_Token(char, column))
            index += 1
        elif char in _CLOSERS:  # a quoted phrase or a {braced} term, up to its closer
            end = expression.find(_CLOSERS[char], index + 1)
            if end < 0:
                what = "quote" if char == '"' else "{"
                raise RuleError(f"{where}: position {column}: unclosed {what}")
            term = parse_term(expression[index : end + 1], f"{where}: position {column}")
            tokens.append(_Token("term", column, term=term))
            index = end + 1
        elif char == "@":
            match = re.compile(r"@(\w*)").match(expression, index)
            assert match is not None
            name = match.group(1)
            check_group_name(name, f"{where}: position {column}")
            tokens.append(_Token("group", column, value=name))
            index = match.end()
        else:
            match = re.compile(r"[^\s()\"{}@]+").match(expression, index)
            if match is None:
                raise RuleError(f"{where}: position {column}: unexpected {char!r}")
            word = match.group(0)
            near = _NEAR.fullmatch(word)
            if word in _OPERATORS:
                tokens.append(_Token(word.lower(), column, value=word))
            elif near:
                distance = int(near.group(1))
                if not 0 <= distance <= MAX_NEAR:
                    raise RuleError(
                        f"{where}: position {column}: NEAR/{distance}: distance must be "
                        f"between 0 and {MAX_NEAR} words"
                    )
                tokens.append(_Token("near", column, value=word, distance=distance))
            elif word.upper().startswith("NEAR"):
                raise RuleError(
                    f"{where}: position {column}: {word!r}: write NEAR/n with a number of words"
                )
            else:
                term = parse_term(word, f"{where}: position {column}")
                tokens.append(_Token("term", column, term=term))
            index = match.end()
    return tokens


class _Parser:
    def __init__(self, expression: str, where: str) -> None:
        self.where = where
        self.tokens = _tokenize(expression, where)
        self.index = 0
        self.end_column = len(expression) + 1

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _fail(self, message: str, token: _Token | None) -> RuleError:
        column = token.position if token else self.end_column
        return RuleError(f"{self.where}: position {column}: {message}")

    def parse(self) -> Node:
        if not self.tokens:
            raise RuleError(f"{self.where}: empty expression")
        node = self._or()
        token = self._peek()
        if token is not None:
            if token.kind == ")":
                raise self._fail("unbalanced ')'", token)
            raise self._fail(
                f"expected AND, OR or NEAR/n before {self._describe(token)} "
                '(quote a phrase: "White House")',
                token,
            )
        return node

    @staticmethod
    def _describe(token: _Token) -> str:
        if token.kind == "term" and token.term is not None:
            return f"term {token.term.text!r}"
        if token.kind == "group":
            return f"group @{token.value}"
        return repr(token.value or token.kind)

    def _or(self) -> Node:
        operands = [self._and()]
        while (token := self._peek()) is not None and token.kind == "or":
            self.index += 1
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else OrNode(tuple(operands))

    def _and(self) -> Node:
        operands = [self._unary()]
        while (token := self._peek()) is not None and token.kind == "and":
            self.index += 1
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else AndNode(tuple(operands))

    def _unary(self) -> Node:
        token = self._peek()
        if token is not None and token.kind == "not":
            self.index += 1
            return NotNode(self._unary())
        return self._near()

    def _near(self) -> Node:
        start = self._peek()
        node = self._primary()
        while (token := self._peek()) is not None and token.kind == "near":
            self.index += 1
            right_token = self._peek()
            right = self._primary()
            if not _positional(node):
                raise self._fail(f"{token.value} needs terms or groups on its left side", start)
            if not _positional(right):
                raise self._fail(
                    f"{token.value} needs terms or groups on its right side", right_token
                )
            node = NearNode(node, right, token.distance)
        return node

    def _primary(self) -> Node:
        token = self._peek()
        if token is None:
            raise self._fail("expected a term, a @group or '(' at the end", None)
        if token.kind == "term" and token.term is not None:
            self.index += 1
            return TermNode(token.term)
        if token.kind == "group":
            self.index += 1
            return GroupNode(token.value, token.position)
        if token.kind == "(":
            self.index += 1
            node = self._or()
            closing = self._peek()
            if closing is None or closing.kind != ")":
                raise self._fail("missing ')'", closing)
            self.index += 1
            return node
        raise self._fail(
            f"expected a term, a @group or '(' but found {token.value or token.kind!r}", token
        )


def _positional(node: Node) -> bool:
    """NEAR compares positions, so its sides must be terms, groups or OR-lists of them."""
    if isinstance(node, TermNode | GroupNode):
        return True
    if isinstance(node, OrNode):
        return all(_positional(operand) for operand in node.operands)
    return False


def needs_hit(node: Node) -> bool:
    """True when the expression can only be true where one of its terms occurs."""
    if isinstance(node, TermNode | GroupNode | NearNode):
        return True
    if isinstance(node, NotNode):
        return False
    if isinstance(node, AndNode):
        return any(needs_hit(operand) for operand in node.operands)
    return all(needs_hit(operand) for operand in node.operands)


def parse_expression(expression: str, where: str) -> Node:
    """Parse a rule part's ``match`` expression; RuleError points at the position."""
    node = _Parser(expression, where).parse()
    if not needs_hit(node):
        raise RuleError(
            f"{where}: the expression can be true where none of its terms occurs "
            "(NOT needs a positive term beside it: @a AND NOT @b)"
        )
    return node


def iter_nodes(node: Node) -> list[Node]:
    """Every node of the tree, parents first."""
    found: list[Node] = [node]
    if isinstance(node, NotNode):
        found.extend(iter_nodes(node.operand))
    elif isinstance(node, AndNode | OrNode):
        for operand in node.operands:
            found.extend(iter_nodes(operand))
    elif isinstance(node, NearNode):
        found.extend(iter_nodes(node.left))
        found.extend(iter_nodes(node.right))
    return found
