"""The one reader of a user's JSON text: every way it can fail is one NotJson saying why."""

from __future__ import annotations

import json
import re

import pytest

from playground.web.user_json import MAX_DEPTH, NotJson, dumps, parse


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{", "not a JSON document: Expecting property name"),
        ("9" * 5000, "a number has more than 4300 digits"),
        ("[" * 3000 + "]" * 3000, "nested too deeply"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested too deeply"),
        ("NaN", "NaN is not a JSON number"),
        ('{"rate": -Infinity}', "-Infinity is not a JSON number"),
        ("1e999", "the number 1e999 is too large"),
        (b"\xff{}", "not UTF-8 text: byte 0xff at position 0"),
        (b'"\xed\xa0\x80"', "not UTF-8 text"),
        ('"\ud800"', "not UTF-8 text: a lone surrogate U+D800 at position 1"),
    ],
)
def test_text_that_is_not_json_is_refused_saying_why(text, complaint):
    with pytest.raises(NotJson, match=re.escape(complaint)):
        parse(text)


def test_an_escaped_lone_surrogate_is_json_and_left_for_the_spec_to_name_its_field():
    assert parse('{"name": "\\ud800"}') == {"name": "\ud800"}


def test_a_spec_deep_document_and_utf8_bytes_are_read():
    assert parse(b'{"faults": [{"at": {"records": 5}}], "name": "\xc3\xa9"}') == {
        "faults": [{"at": {"records": 5}}],
        "name": "é",
    }


def test_dumps_writes_text_as_itself_and_escapes_only_what_utf8_cannot_carry():
    assert dumps({"name": "Zahlungsdienst ✓"}) == '{"name":"Zahlungsdienst ✓"}'
    odd = {"name": "\udfff ✓"}
    assert dumps(odd, indent=2) == json.dumps(odd, indent=2)
    assert parse(dumps(odd)) == odd
