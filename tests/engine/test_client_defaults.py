"""The settings a guarantee needs beyond the client's defaults, counted as the compare page does."""

from __future__ import annotations

from playground.engine.spec.client_defaults import beyond_defaults
from playground.engine.spec.fields import CLIENT_DEFAULT_SETTINGS
from playground.engine.spec.model import Spec
from playground.engine.spec.presets import preset


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


def test_the_counted_settings_and_their_defaults_are_librdkafkas_and_a_plain_poll_loops():
    assert {entry.path: entry.client_default for entry in CLIENT_DEFAULT_SETTINGS} == {
        "producer.acks": "all",
        "producer.enable_idempotence": False,
        "producer.retries": 2_147_483_647,
        "producer.transactional": False,
        "consumer.commit": "auto",
        "consumer.isolation_level": "read_committed",
        "consumer.idempotent": False,
    }


def test_a_changed_setting_says_its_value_and_its_default():
    (acks,) = [c for c in beyond_defaults(preset("metrics").spec) if c.path == "producer.acks"]
    assert str(acks) == "producer.acks = 1 (default all)"
    assert acks.to_json() == {"setting": "producer.acks", "value": "1", "default": "all"}
    (idempotence,) = beyond_defaults(preset("notification-service").spec)[:1]
    assert str(idempotence) == "producer.enable_idempotence = on (default off)"
