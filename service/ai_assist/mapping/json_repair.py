"""Parse the JSON an LLM wrote, repairing the usual damage.

`parse_llm_json(raw)` returns `(value, "valid")` when `raw` is JSON as it stands, and
`(value, "repaired")` when it had to:
- take the JSON out of Markdown code fences (```json ... ```), closed or not;
- skip prose before the first `{` / `[` and after the value ends;
- accept trailing commas, single-quoted strings, unquoted object keys, `//` and `/* */`
  comments, raw control characters inside strings, and Python literals
  (True / False / None);
- finish output that was cut off (an answer stopped by max_output_tokens): open strings,
  arrays and objects are closed, and the element that was being written when the text
  ended is dropped from the innermost open array (an object cut off outside any array
  keeps its complete members).
It raises ValueError when no JSON object or array can be recovered.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*(?:json[c5]?|JSON|javascript|js)?[ \t]*\r?\n?(.*?)(?:```|\Z)",
                    re.DOTALL)
_KEY = re.compile(r"[A-Za-z_$][\w$-]*")
_SCALAR = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[A-Za-z_]+")
_INTEGER = re.compile(r"-?\d+")
_BRACKET = re.compile(r"[{\[]")
_MAX_STARTS = 20  # candidate starting brackets tried inside prose

_LITERALS = {"true": True, "false": False, "null": None,
             "True": True, "False": False, "None": None}
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
            "r": "\r", "t": "\t"}

# What parsing one value gave: complete; cut off by the end of the text but closed
# (still usable); or cut off inside, so the enclosing array drops it.
COMPLETE, CLOSED, CUT = "complete", "closed", "cut"


class _Invalid(Exception):
    pass


def parse_llm_json(raw: str) -> tuple[Any, str]:
    if raw is None or not raw.strip():
        raise ValueError("empty answer")
    try:
        return json.loads(raw), "valid"
    except (json.JSONDecodeError, RecursionError):
        pass
    errors = []
    for text in _texts_to_try(raw):
        failed_at = -1
        for start in _starts(text):
            if start <= failed_at:  # inside the value that just failed
                continue
            parser = _LenientParser(text, start)
            try:
                value = parser.parse()
            except (_Invalid, RecursionError) as exc:
                errors.append(str(exc))
                failed_at = parser.i
                continue
            return value, "repaired"
    raise ValueError("no JSON object or array could be recovered"
                     + (f": {errors[0]}" if errors else ""))


def _texts_to_try(raw: str) -> list[str]:
    fenced = [m.group(1) for m in _FENCE.finditer(raw) if m.group(1).strip()]
    return [*fenced, raw]


def _starts(text: str) -> list[int]:
    """Where a JSON object or array may begin: each bracket, _MAX_STARTS at most."""
    return [m.start() for m in _BRACKET.finditer(text)][:_MAX_STARTS]


class _LenientParser:
    def __init__(self, text: str, start: int) -> None:
        self.s = text
        self.i = start

    def parse(self) -> dict | list:
        """The object or array whose bracket is at `start` (always a bracket: _starts)."""
        return self._value()[0]

    # -- helpers ------------------------------------------------------------------
    def _at_end(self) -> bool:
        return self.i >= len(self.s)

    def _after_member(self, close: str) -> None:
        """After a member: the text may end, or go on with ',' or `close` (the loop
        handles each of those)."""
        self._skip()
        if not self._at_end() and self.s[self.i] not in ("," + close):
            raise _Invalid(f"expected ',' or {close!r} at {self.i}")

    def _skip(self) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n\ufeff\u00a0":
                self.i += 1
            elif s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end + 1
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = len(s) if end < 0 else end + 2
            elif s.startswith("```", self.i):  # a closing fence: the text ends here
                self.s = s = s[: self.i]
            else:
                return

    # -- values -------------------------------------------------------------------
    def _value(self) -> tuple[Any, str]:
        self._skip()
        if self._at_end():
            return None, CUT
        c = self.s[self.i]
        if c == "{":
            return self._object()
        if c == "[":
            return self._array()
        if c in "\"'":
            return self._string()
        return self._scalar()

    def _object(self) -> tuple[dict, str]:
        self.i += 1
        out: dict[str, Any] = {}
        while True:
            self._skip()
            if self._at_end():
                return out, CUT
            c = self.s[self.i]
            if c == "}":
                self.i += 1
                return out, COMPLETE
            if c == ",":  # leading or doubled commas
                self.i += 1
                continue
            key, state = self._key()
            if state != COMPLETE:
                return out, CUT
            self._skip()
            if self._at_end():
                return out, CUT
            if self.s[self.i] != ":":
                raise _Invalid(f"expected ':' at {self.i}")
            self.i += 1
            value, state = self._value()
            if state == CUT:
                return out, CUT
            out[key] = value
            if state == CLOSED:
                return out, CLOSED
            self._after_member("}")

    def _key(self) -> tuple[str, str]:
        if self.s[self.i] in "\"'":
            return self._string()
        m = _KEY.match(self.s, self.i)
        if not m:
            raise _Invalid(f"expected a key at {self.i}")
        self.i = m.end()
        return m.group(), CUT if self._at_end() else COMPLETE

    def _array(self) -> tuple[list, str]:
        self.i += 1
        out: list[Any] = []
        while True:
            self._skip()
            if self._at_end():
                return out, CLOSED
            c = self.s[self.i]
            if c == "]":
                self.i += 1
                return out, COMPLETE
            if c == ",":
                self.i += 1
                continue
            value, state = self._value()
            if state == CUT:  # the element being written when the text ended
                return out, CLOSED
            out.append(value)
            if state == CLOSED:
                return out, CLOSED
            self._after_member("]")

    def _string(self) -> tuple[str, str]:
        quote = self.s[self.i]
        self.i += 1
        s, parts = self.s, []
        while self.i < len(s):
            c = s[self.i]
            if c == quote:
                self.i += 1
                return "".join(parts), COMPLETE
            if c == "\\":
                if self.i + 1 >= len(s):
                    break
                e = s[self.i + 1]
                if e == "u":
                    digits = s[self.i + 2:self.i + 6]
                    if len(digits) < 4:
                        break
                    try:
                        parts.append(chr(int(digits, 16)))
                    except ValueError as exc:
                        raise _Invalid(f"bad \\u escape at {self.i}") from exc
                    self.i += 6
                    continue
                parts.append(_ESCAPES.get(e, e))
                self.i += 2
                continue
            parts.append(c)
            self.i += 1
        self.i = len(s)
        return "".join(parts), CUT

    def _scalar(self) -> tuple[Any, str]:
        m = _SCALAR.match(self.s, self.i)
        if not m:
            raise _Invalid(f"unexpected {self.s[self.i]!r} at {self.i}")
        word = m.group()
        self.i = m.end()
        if self._at_end():  # a number or literal may have been cut short
            return None, CUT
        if word in _LITERALS:
            return _LITERALS[word], COMPLETE
        if word[0].isalpha() or word[0] == "_":
            raise _Invalid(f"unquoted word {word!r}")
        return (int(word) if _INTEGER.fullmatch(word) else float(word)), COMPLETE
