"""Which of a spec's delivery settings differ from what the client does out of the box.

The course says exactly-once costs "more config". This counts it: the settings that decide a
delivery guarantee, each with the value a confluent-kafka (librdkafka) client has when nobody sets
it, and for the consumer's application side (when it commits, whether it deduplicates) what a
plain poll loop does. Settings the playground sets the same way for every experiment (timeouts,
client ids, where a new group starts reading) are the apparatus, not the guarantee, and are not
counted. Nor is producer.max_in_flight: librdkafka lowers it to 5 by itself when idempotence is
on, so no guarantee needs it set. Each counted setting's default is its registry entry's
`client_default` (spec_fields).
"""

from __future__ import annotations

from dataclasses import dataclass

from playground.engine.spec.fields import CLIENT_DEFAULT_SETTINGS, Setting
from playground.engine.spec.model import Spec


@dataclass(frozen=True)
class Changed:
    """One delivery setting a spec sets to something other than the client's default."""

    setting: Setting
    value: object

    def __str__(self) -> str:
        return f"{self.path} = {self.shown_value} (default {self.shown_default})"

    @property
    def path(self) -> str:
        return self.setting.path

    @property
    def default(self) -> object:
        return self.setting.client_default

    @property
    def shown_value(self) -> str:
        return self.setting.shown(self.value)

    @property
    def shown_default(self) -> str:
        return self.setting.shown(self.default)

    def to_json(self) -> dict:
        return {"setting": self.path, "value": self.value, "default": self.default}


def beyond_defaults(spec: Spec) -> list[Changed]:
    """The delivery settings `spec` needs beyond the client's defaults, in the registry's order
    (producer first, then consumer)."""
    changed = []
    for entry in CLIENT_DEFAULT_SETTINGS:
        value = entry.value(spec)
        if value != entry.client_default:
            changed.append(Changed(entry, value))
    return changed
