"""Which of a spec's delivery settings differ from what the client does out of the box.

The course says exactly-once costs "more config". This counts it: the settings that decide a
delivery guarantee, each with the value a confluent-kafka (librdkafka) client has when nobody sets
it, and for the consumer's application side (when it commits, whether it deduplicates) what a
plain poll loop does. Settings the playground sets the same way for every experiment (timeouts,
client ids, where a new group starts reading) are the apparatus, not the guarantee, and are not
counted. Nor is producer.max_in_flight: librdkafka lowers it to 5 by itself when idempotence is
on, so no guarantee needs it set.
"""

from __future__ import annotations

from dataclasses import dataclass

from playground.engine.spec import Spec
from playground.engine.spec_fields import setting

# librdkafka's defaults (CONFIGURATION.md), by spec path; the consumer's commit and idempotence
# are the application's: librdkafka commits on its own (enable.auto.commit=true), and a consumer
# that keeps no record of what it handled is the plain one.
CLIENT_DEFAULTS: dict[str, object] = {
    "producer.acks": "all",  # acks=-1 since librdkafka 1.0
    "producer.enable_idempotence": False,
    "producer.retries": 2_147_483_647,
    "producer.transactional": False,  # no transactional.id
    "consumer.commit": "auto",
    "consumer.isolation_level": "read_committed",
    "consumer.idempotent": False,
}


@dataclass(frozen=True)
class Changed:
    """One delivery setting a spec sets to something other than the client's default."""

    path: str
    label: str
    value: object
    default: object

    def __str__(self) -> str:
        return f"{self.path} = {self.shown_value} (default {self.shown_default})"

    @property
    def shown_value(self) -> str:
        return _shown(self.value)

    @property
    def shown_default(self) -> str:
        return _shown(self.default)

    def to_json(self) -> dict:
        return {"setting": self.path, "value": self.value, "default": self.default}


def beyond_defaults(spec: Spec) -> list[Changed]:
    """The delivery settings `spec` needs beyond the client's defaults, in the registry's order
    (producer first, then consumer)."""
    document = spec.to_json()
    changed = []
    for path, default in CLIENT_DEFAULTS.items():
        section, name = path.split(".")
        value = document[section][name]
        if value != default:
            changed.append(Changed(path, setting(path).label, value, default))
    return changed


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
