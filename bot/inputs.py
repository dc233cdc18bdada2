"""Guards at the edge: JSON bodies and texts that every handler may trust afterwards.

``parse_json_body`` turns a request body into a Python value or raises :class:`BadInput` with a clear
reason (size, nesting depth, integer size, invalid UTF-8, lone surrogates or control characters in any
string). ``text_problem`` tells why a text can't be processed (it is also used by the NLU's
``validate_text``), so the encoder never sees characters it can't encode.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

#: deepest accepted nesting of JSON arrays/objects
MAX_JSON_DEPTH = 32
#: the largest integer id a database column holds (signed 64 bit)
MAX_ID = 2**63 - 1
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
_BAD_CHAR = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


class BadInput(ValueError):
    """Input the server refuses; ``str(exc)`` is the reason shown to the client (HTTP 400/413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        """``status`` is the HTTP status to answer with."""
        super().__init__(message)
        self.status = status


def text_problem(text: str) -> str | None:
    """Why ``text`` can't be processed as a message (lone surrogate, control character), or None."""
    m = _BAD_CHAR.search(text)
    if m is None:
        return None
    ch = m.group()
    kind = "a lone surrogate" if "\ud800" <= ch <= "\udfff" else (
        "a control character" if unicodedata.category(ch) == "Cc" else "a non-character")
    return f"text contains {kind} (U+{ord(ch):04X} at position {m.start()}); send plain Unicode text"


def check_text(value: Any, field: str, max_len: int, *, allow_empty: bool = False) -> str:
    """``value`` if it is a usable string of at most ``max_len`` characters, else :class:`BadInput`."""
    if not isinstance(value, str):
        raise BadInput(f"'{field}' must be a string")
    if len(value) > max_len:
        raise BadInput(f"'{field}' is too long: {len(value)} characters (at most {max_len})")
    if not allow_empty and not value.strip():
        raise BadInput(f"'{field}' must not be empty")
    problem = text_problem(value)
    if problem:
        raise BadInput(f"'{field}': {problem}")
    return value


def _walk(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise BadInput(f"JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    if isinstance(value, str):
        problem = text_problem(value.replace("\t", " ").replace("\n", " ").replace("\r", " "))
        if problem:
            raise BadInput(problem)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(k, depth + 1)
            _walk(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _walk(v, depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18:
        raise BadInput("integers in the body must be at most 10^18")


def _depth_ok(raw: str) -> bool:
    """Nesting depth check on the raw text (before the recursive decoder runs)."""
    depth = 0
    in_str = esc = False
    for ch in raw:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def parse_json_body(body: bytes | None, max_bytes: int, *, empty: Any = None) -> Any:
    """The JSON value of a request body; ``empty`` (if not None) stands for an empty body."""
    body = body or b""
    if len(body) > max_bytes:
        raise BadInput(f"request body too large ({len(body)} bytes, at most {max_bytes})", 413)
    if not body.strip():
        if empty is not None:
            return empty
        raise BadInput("request body is empty; send a JSON object")
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"request body is not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if not _depth_ok(raw):
        raise BadInput(f"JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadInput(f"request body is not valid JSON: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # e.g. integers of more than 4300 digits
        raise BadInput(f"request body is not acceptable JSON: {exc}") from exc
    _walk(value, 0)
    return value


def _no_constant(name: str) -> Any:
    raise BadInput(f"JSON constant {name} is not allowed")


def parse_id(value: Any, field: str) -> int:
    """A database id from a path/query value: an integer from 0 to 2^63-1, else :class:`BadInput`."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        n = int(value)
    else:
        raise BadInput(f"'{field}' must be a non-negative integer id")
    if not 0 <= n <= MAX_ID:
        raise BadInput(f"'{field}' must be at most {MAX_ID}")
    return n
