"""The settings a guarantee needs beyond the client's defaults, counted as the compare page does."""

from __future__ import annotations

from playground.engine.client_defaults import CLIENT_DEFAULTS, beyond_defaults
from playground.engine.presets import preset
from playground.engine.spec import Spec
from playground.engine.spec_fields import setting


def _changed(name: str) -> list[str]:
    return [changed.path for changed in beyond_defaults(preset(name).spec)]


def test_each_presets_settings_beyond_librdkafkas_defaults():
    assert _changed("metrics") == ["producer.acks", "producer.retries", "consumer.commit"]
    assert _changed("notification-service") == ["producer.enable_idempotence", "consumer.commit"]
    assert _changed("payments-aggregation") == [
        "producer.enable_idempotence",
        "producer.transactional",
        "consumer.commit",
    ]
    assert _changed("payment-service") == [
        "producer.enable_idempotence",
        "consumer.commit",
        "consumer.idempotent",
    ]


def test_a_spec_of_the_clients_defaults_needs_nothing_more():
    document = Spec().to_json()
    document["consumer"]["commit"] = "auto"
    assert beyond_defaults(Spec.from_json(document)) == []


def test_every_counted_setting_is_a_spec_field_and_says_its_default():
    for path in CLIENT_DEFAULTS:
        assert setting(path).label
    (acks,) = [c for c in beyond_defaults(preset("metrics").spec) if c.path == "producer.acks"]
    assert str(acks) == "producer.acks = 1 (default all)"
    assert acks.to_json() == {"setting": "producer.acks", "value": "1", "default": "all"}
