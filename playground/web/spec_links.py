"""Links that open the builder on a ready spec: the spec document in the URL as base64url.

`/builder/?spec=<base64url of the compact JSON, no padding>` lets course material, the experiment
page and the builder itself link to an experiment that is ready to run. The link carries the
document as written; the builder validates it with `Spec.from_json` like any other.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from django.urls import reverse

from playground.web import user_json

# A spec document is about 800 bytes of JSON; this leaves room for ten faults and a long name
# while refusing anything that is plainly not a spec.
MAX_LINK_CHARACTERS = 16_000
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_JSON_TYPES = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def encode_spec(document: dict[str, Any]) -> str:
    """The link form of a spec document: base64url of its compact JSON, without padding. A lone
    surrogate (in a spec stored before the spec refused them) is written as JSON's \\u escape
    (user_json.dumps), so the link still opens, and the builder names the field."""
    data = user_json.dumps(document).encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_spec(text: str) -> dict[str, Any]:
    """The spec document a link holds; ValueError saying what is wrong with a bad link."""
    # Padding is not part of the format, but a link pasted with it is still understood.
    text = text.strip().rstrip("=")
    if not text:
        raise ValueError("the spec link is empty")
    if len(text) > MAX_LINK_CHARACTERS:
        raise ValueError(
            f"the spec link is {len(text)} characters long; a spec fits in {MAX_LINK_CHARACTERS}"
        )
    if not _BASE64URL.fullmatch(text):
        raise ValueError(
            "the spec link is not base64url: it may only hold letters, digits, '-' and '_'"
        )
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("the spec link is cut short: it is not a whole base64url text") from None
    try:
        document = user_json.parse(raw)
    except user_json.NotJson as error:
        raise ValueError(f"the spec link is {error}") from None
    if not isinstance(document, dict):
        raise ValueError(
            f"the spec link holds a JSON {_JSON_TYPES[type(document)]}, not an object; "
            'a spec is an object such as {"workload": {"records": 100}}'
        )
    return document


def spec_url(document: dict[str, Any]) -> str:
    """The builder's URL opened on `document` (relative; build_absolute_uri makes it whole)."""
    return f"{reverse('builder')}?spec={encode_spec(document)}"
