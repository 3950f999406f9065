"""JSON from callers, parsed with a nesting limit and finite numbers only.

`'[' * 5000 + ']' * 5000` (10 KB) made the standard parser raise RecursionError, a 500 on every JSON
endpoint. Every body, upload and manifest Steward parses goes through `loads` (or the REST API's
`DepthLimitedJSONParser`, which uses it), so a document too deep is a ValueError and a 400.

MAX_DEPTH is 64: Steward's deepest legitimate document (a governance policy, a Cedar test case's
request with its context) nests under ten levels, so 64 leaves clients room; and it is far below
Python's recursion limit (1000), so nothing that walks the parsed value afterwards (serializers,
the audit log's JSON round trip, the JSONField encoder) can run out of stack either.
"""

from __future__ import annotations

import json
import math
from itertools import accumulate
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding

MAX_DEPTH = 64

# The skeleton of a document: its brackets and quotes; brackets inside strings are dropped (every
# other quote opens a string once escapes are gone), then opening brackets count +1, closing -1.
_NOT_SKELETON = bytes(c for c in range(256) if c not in b'[]{}"')
_SIGNS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


class JSONTooDeep(ValueError):
    pass


def check_depth(text: str | bytes, limit: int = MAX_DEPTH) -> None:
    """Raise JSONTooDeep when `text` nests arrays or objects deeper than `limit`.

    Runs before the parser, so a hostile document costs a few linear passes in C and never a
    recursion (a 10 MB import file takes about a third of the time json.loads does). Unbalanced
    text is left for the parser to refuse."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    if b"\\" in data:
        # Escapes pair left to right, so removing escaped backslashes and then escaped quotes leaves
        # only the quotes that open and close strings.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(data.translate(None, _NOT_SKELETON).split(b'"')[0::2])
    steps = memoryview(outside_strings.translate(_SIGNS)).cast("b")
    if steps and max(accumulate(steps)) > limit:
        raise JSONTooDeep(f"The JSON nests deeper than {limit} levels of arrays and objects.")


def check_no_nul(text: str | bytes) -> None:
    """Refuse NUL in strings (the escape \\u0000): PostgreSQL text cannot hold it, so it was a
    DataError, a 500, wherever a string reached the database."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if b"\\u0000" in data.replace(b"\\\\", b""):
        raise ValueError("A NUL character (\\u0000) is not accepted in text.")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf, which no database column or JSON encoder takes
        raise ValueError(f"The number {text[:40]} is out of range.")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number.")


def loads(document: str | bytes | bytearray, limit: int = MAX_DEPTH) -> Any:
    """json.loads with a nesting limit, no NUL in strings, and without NaN, Infinity or numbers that
    overflow a float.

    Raises ValueError (JSONTooDeep, json.JSONDecodeError, UnicodeDecodeError) for anything refused."""
    check_depth(document, limit)
    check_no_nul(document)
    if isinstance(document, (bytes, bytearray)):
        document = document.decode("utf-8-sig")
    return json.loads(document, parse_float=_finite, parse_constant=_no_constants)


class DepthLimitedJSONParser(JSONParser):
    """The REST API's JSON parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES): governance.safe_json.loads
    behind DRF's, so a document too deep or a number out of range is a 400 `{"detail": ...}`."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        try:
            return loads(stream.read().decode(encoding))
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
            raise ParseError(f"JSON parse error - {exc}") from None
