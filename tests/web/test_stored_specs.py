"""A page never breaks on a spec already stored, whatever text it holds (specs stored before the
spec refused lone surrogates and control characters)."""

from __future__ import annotations

import pytest

from playground.web.models import Experiment

ODD_NAMES = ["\udfff", "a\x00b", "\ud800\udc00x", "\u202e"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ODD_NAMES)
@pytest.mark.parametrize("status", [Experiment.QUEUED, Experiment.DONE, Experiment.FAILED])
def test_the_experiment_page_renders_a_stored_spec_with_odd_text(client, name, status):
    spec = {"name": name, "producer": {"transactional": True, "transactional_id": name}}
    experiment = Experiment.objects.create(spec=spec, status=status)
    for url in (experiment.get_absolute_url(), f"/api/experiments/{experiment.share_id}"):
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
