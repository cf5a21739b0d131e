"""The builder shows each setting as engine/spec_fields describes it: its field, label, path and
explanation in its section, and each fault field's explanation in the fault help."""

from __future__ import annotations

import html
import re

import pytest

from playground.engine.spec.fields import FAULT_SETTINGS, SECTIONS, SPEC_SETTINGS

pytestmark = pytest.mark.django_db


def test_every_setting_has_its_field_label_path_and_explanation(client):
    page = html.unescape(client.get("/builder/").content.decode())
    fields = page.split('<div class="field')[1:]

    for entry in SPEC_SETTINGS:
        (field,) = [field for field in fields if f'id="id_{entry.name}"' in field]
        assert entry.label in field and f'<code class="path">{entry.path}</code>' in field
        assert f'id="id_{entry.name}_helptext">{entry.explanation}</p>' in field


def test_settings_come_in_their_sections_in_registry_order(client):
    page = client.get("/builder/").content.decode()

    legends = re.findall(r"<legend>(.*?)</legend>", page)
    ids = re.findall(r'<code class="path">(.*?)</code>', page)
    assert legends == [section.title for section in SECTIONS]
    assert ids == [entry.path for entry in SPEC_SETTINGS]


def test_the_fault_help_explains_every_fault_field(client):
    page = html.unescape(client.get("/builder/").content.decode())

    for entry in FAULT_SETTINGS:
        assert f"<dt>{entry.label}</dt><dd>{entry.explanation}</dd>" in page, entry.path
