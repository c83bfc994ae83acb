"""Replay of recorded IdP transcripts (tests/data/idp/): placeholders, matchers, and the
subset comparison. The format is described in tests/data/idp/README.md."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DATA = Path(__file__).resolve().parents[1] / "data" / "idp"

PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")
ANY = "{{any}}"  # present and not null
STRING = "{{string}}"  # a non-empty string
INT = "{{int}}"  # an integer (not a boolean)
ABSENT = "{{absent}}"  # as an object value: the key must be missing
EMPTY = "{{empty}}"  # as an object value: missing, null or []
UNORDERED = "{{unordered}}"  # {"{{unordered}}": [...]}: same length, any order
CONTAINS = "{{contains}}"  # {"{{contains}}": [...]}: each matches a distinct element
REGEX = "{{re:"  # "{{re:PATTERN}}": a string that fully matches PATTERN
MATCHERS = frozenset({ANY, STRING, INT, ABSENT, EMPTY})


def transcript_files() -> list[Path]:
    return sorted(DATA.glob("*/*.json"))


class Mismatch(AssertionError):
    pass


@dataclass
class Replay:
    """One transcript's run: the variables known so far (token, baseUrl, captures)."""

    variables: dict[str, Any] = field(default_factory=dict)

    # -- placeholders -------------------------------------------------------------

    def interpolate(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.variables:
                raise Mismatch(f"placeholder {{{{{name}}}}} used before it was captured")
            return str(self.variables[name])

        return PLACEHOLDER.sub(value, text)

    def fill(self, template: Any) -> Any:
        """A request part with every ``{{var}}`` replaced by its value."""
        if isinstance(template, str):
            return self.interpolate(template)
        if isinstance(template, list):
            return [self.fill(item) for item in template]
        if isinstance(template, dict):
            return {key: self.fill(item) for key, item in template.items()}
        return template

    # -- matching -----------------------------------------------------------------

    def match(self, expected: Any, actual: Any, where: str = "") -> None:
        """Raise Mismatch unless ``actual`` matches the ``expected`` subset."""
        where = where or "/"
        if isinstance(expected, str) and expected in MATCHERS:
            self._match_word(expected, actual, where)
        elif isinstance(expected, str) and expected.startswith(REGEX) and expected.endswith("}}"):
            pattern = self.interpolate(expected[len(REGEX) : -2])
            if not isinstance(actual, str) or re.fullmatch(pattern, actual) is None:
                raise Mismatch(f"{where}: expected a string matching {pattern!r}, got {actual!r}")
        elif isinstance(expected, str):
            want = self.interpolate(expected)
            if actual != want:
                raise Mismatch(f"{where}: expected {want!r}, got {actual!r}")
        elif isinstance(expected, dict) and len(expected) == 1 and UNORDERED in expected:
            self._match_bag(expected[UNORDERED], actual, where, exact=True)
        elif isinstance(expected, dict) and len(expected) == 1 and CONTAINS in expected:
            self._match_bag(expected[CONTAINS], actual, where, exact=False)
        elif isinstance(expected, dict):
            if not isinstance(actual, dict):
                raise Mismatch(f"{where}: expected an object, got {actual!r}")
            for key, want in expected.items():
                path = f"{where.rstrip('/')}/{key}"
                if want == ABSENT:
                    if key in actual:
                        raise Mismatch(f"{path}: expected absent, got {actual[key]!r}")
                elif want == EMPTY:
                    if actual.get(key) not in (None, []):
                        raise Mismatch(f"{path}: expected absent, null or [], got {actual[key]!r}")
                elif key not in actual:
                    raise Mismatch(f"{path}: missing (object has {sorted(actual)})")
                else:
                    self.match(want, actual[key], path)
        elif isinstance(expected, list):
            if not isinstance(actual, list):
                raise Mismatch(f"{where}: expected a list, got {actual!r}")
            if len(actual) != len(expected):
                raise Mismatch(f"{where}: expected {len(expected)} elements, got {actual!r}")
            for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
                self.match(want, got, f"{where.rstrip('/')}/{index}")
        elif isinstance(expected, bool) or expected is None:
            if actual is not expected:
                raise Mismatch(f"{where}: expected {json.dumps(expected)}, got {actual!r}")
        elif isinstance(expected, int | float):
            number = isinstance(actual, int | float) and not isinstance(actual, bool)
            if not number or actual != expected:
                raise Mismatch(f"{where}: expected {expected!r}, got {actual!r}")
        else:  # pragma: no cover - JSON has no other types
            raise Mismatch(f"{where}: cannot match {expected!r}")

    def _match_word(self, word: str, actual: Any, where: str) -> None:
        if word == ANY and actual is None:
            raise Mismatch(f"{where}: expected a value, got null")
        if word == STRING and not (isinstance(actual, str) and actual):
            raise Mismatch(f"{where}: expected a non-empty string, got {actual!r}")
        if word == INT and (isinstance(actual, bool) or not isinstance(actual, int)):
            raise Mismatch(f"{where}: expected an integer, got {actual!r}")
        if word in (ABSENT, EMPTY):
            raise Mismatch(f"{where}: {word} is only meaningful as an object member")

    def _match_bag(self, expected: Any, actual: Any, where: str, *, exact: bool) -> None:
        if not isinstance(expected, list):
            raise Mismatch(f"{where}: the transcript's {{{{unordered}}}} needs a list")
        if not isinstance(actual, list):
            raise Mismatch(f"{where}: expected a list, got {actual!r}")
        if exact and len(actual) != len(expected):
            raise Mismatch(f"{where}: expected {len(expected)} elements, got {actual!r}")

        def fits(want: Any, got: Any) -> bool:
            try:
                self.match(want, got, where)
            except Mismatch:
                return False
            return True

        def assign(index: int, used: frozenset[int]) -> bool:
            if index == len(expected):
                return True
            return any(
                j not in used and fits(expected[index], got) and assign(index + 1, used | {j})
                for j, got in enumerate(actual)
            )

        if not assign(0, frozenset()):
            kind = "in any order" if exact else "among the elements"
            raise Mismatch(f"{where}: expected {self.fill(expected)!r} {kind}, got {actual!r}")

    def match_headers(self, expected: Mapping[str, str], actual: httpx.Headers) -> None:
        for name, want in expected.items():
            got = actual.get(name)
            where = f"header {name}"
            if want == ABSENT:
                if got is not None:
                    raise Mismatch(f"{where}: expected absent, got {got!r}")
                continue
            if got is None:
                raise Mismatch(f"{where}: missing (headers: {dict(actual)})")
            if name.lower() == "content-type" and ";" not in want and not want.startswith("{{"):
                # The media type is compared; parameters such as charset are allowed.
                self.match(want.lower(), got.split(";")[0].strip().lower(), where)
            else:
                self.match(want, got, where)

    def check_absent(self, names: list[str], body: Any) -> None:
        """``/a/b`` pointers must not resolve; a bare name must not occur as a key at any
        depth (the exact key: ``Primary`` checks that a capitalised name sent was not echoed)."""
        for name in names:
            if name.startswith("/"):
                try:
                    found = resolve(body, name)
                except KeyError:
                    continue
                raise Mismatch(f"{name}: expected absent, got {found!r}")
            for path, key in keys(body):
                if key == name:
                    raise Mismatch(f"{path}/{key}: {name!r} must never be returned")


def keys(document: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield path, key
            yield from keys(value, f"{path}/{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from keys(value, f"{path}/{index}")


def resolve(document: Any, pointer: str) -> Any:
    """A JSON pointer (RFC 6901), or a bare top-level attribute name. KeyError if absent."""
    if not pointer.startswith("/"):
        pointer = "/" + pointer.replace("~", "~0").replace("/", "~1")
    current = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            raise KeyError(pointer)
    return current
