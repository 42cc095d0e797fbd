"""Odd input is refused at the door with a 400: control characters, broken UTF-8, lone
surrogates and oversized values never reach a view, so they never reach the database either
(PostgreSQL refuses NUL in text, which would otherwise end in a 500).

Twilio's webhooks under /voice/ are left alone: a caller is always answered, and those
views clean Twilio's fields themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

UNGUARDED_PREFIXES = ("/voice/",)
JSON_PREFIXES = ("/api/",)
MAX_URL_CHARS = 4096  # the path, or the whole query string
MAX_BODY_BYTES = 256 * 1024
MAX_VALUE_CHARS = 20_000  # one form field or JSON string: a long wrap-up note fits

# C0 controls and DEL; text typed into a form or JSON may carry tabs and line breaks.
_CONTROL_IN_URL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class OddInputError(ValueError):
    """The request carries something no page or API call accepts; the message says what."""


def guard_odd_input(app: Flask) -> None:
    """Check every request before anything else reads it (CSRF, sign-in, the view)."""
    app.before_request(refuse_odd_input)


def refuse_odd_input() -> ResponseReturnValue | None:
    if request.path.startswith(UNGUARDED_PREFIXES):
        return None
    try:
        check_request()
    except OddInputError as problem:
        return refusal(str(problem))
    return None


def check_request() -> None:
    check_text(_wsgi_text(request.environ.get("PATH_INFO", ""), "path"), "the path", url=True)
    check_text(_form_text(request.query_string, "query string"), "the query string", url=True)
    if request.content_length or request.headers.get("Transfer-Encoding"):
        check_body()


def refusal(problem: str) -> ResponseReturnValue:
    if request.path.startswith(JSON_PREFIXES):
        return jsonify(error=f"odd input refused: {problem}"), 400
    return render_template("odd_input.html", problem=problem), 400


def check_text(text: str, where: str, *, url: bool = False, limit: int = MAX_URL_CHARS) -> None:
    """Refuse `text` when it is too long or holds a control character or lone surrogate."""
    if len(text) > limit:
        raise OddInputError(f"{where} is longer than {limit} characters")
    if (_CONTROL_IN_URL if url else _CONTROL_IN_TEXT).search(text):
        raise OddInputError(f"{where} contains a control character")
    if _SURROGATE.search(text):
        raise OddInputError(f"{where} contains a lone surrogate")


def check_body() -> None:
    body = _body_bytes()
    if request.mimetype == _FORM:
        check_text(_form_text(body, "form"), "the form", limit=MAX_BODY_BYTES)
        check_values(request.form.values(), "a form field")
    elif request.mimetype == _MULTIPART:
        check_values(request.form.values(), "a form field")
    elif request.is_json and body.strip():
        check_values(json_strings(_json_document(body)), "a JSON string")


def check_values(values: Iterable[str], where: str) -> None:
    for value in values:
        check_text(value, where, limit=MAX_VALUE_CHARS)


def json_strings(document: Any) -> Iterator[str]:
    """Every key and string in a parsed JSON document, walked without recursion."""
    waiting = [document]
    while waiting:
        item = waiting.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            waiting.extend(item.values())
        elif isinstance(item, list):
            waiting.extend(item)


def _body_bytes() -> bytes:
    request.max_content_length = MAX_BODY_BYTES
    try:
        return request.get_data(cache=True)  # the form and JSON parsers read it from the cache
    except RequestEntityTooLarge:
        raise OddInputError(f"the body is larger than {MAX_BODY_BYTES} bytes") from None


def _json_document(body: bytes) -> Any:
    text = _utf8(body, "JSON body")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise OddInputError("the JSON body cannot be read") from None


def _wsgi_text(value: str, where: str) -> str:
    # WSGI servers hand over the path's raw bytes as latin-1 characters.
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise OddInputError(f"the {where} is not valid UTF-8") from None
    return _utf8(raw, where)


def _form_text(raw: bytes, where: str) -> str:
    """URL-encoded pairs as text, strictly UTF-8 (the parsers would quietly replace bad bytes)."""
    return _utf8(unquote_to_bytes(raw.replace(b"+", b" ")), where)


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")  # strict: refuses broken sequences and encoded surrogates
    except UnicodeDecodeError:
        raise OddInputError(f"the {where} is not valid UTF-8") from None
