"""A static member of a consumer-protocol group restarted before its dead predecessor's session
ran out is refused by the broker (UNRELEASED_INSTANCE_ID, fatal to librdkafka): a named exit that
the supervisor restarts without counting it as a failure of the run."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from playground.engine.workers.exits import EXIT_FATAL, EXIT_INSTANCE_HELD, describe, exit_code_of

# What librdkafka 2.16 reports (seen in a soak run's worker log).
HELD = (
    "Fatal error: Broker: The instance ID is still used by another member in the consumer "
    "group: ConsumerGroupHeartbeat fatal error: Broker: The instance ID is still used by "
    "another member in the consumer group"
)


def test_a_held_instance_id_is_its_own_exit():
    error = KafkaError(KafkaError._FATAL, HELD, fatal=True)
    assert exit_code_of(KafkaException(error)) == EXIT_INSTANCE_HELD
    assert "session timeout" in describe(EXIT_INSTANCE_HELD)


def test_the_code_itself_is_the_same_exit_and_other_fatal_errors_stay_fatal():
    held = KafkaError(KafkaError.UNRELEASED_INSTANCE_ID, "unreleased")
    assert exit_code_of(KafkaException(held)) == EXIT_INSTANCE_HELD
    other = KafkaError(KafkaError._FATAL, "Fatal error: something else", fatal=True)
    assert exit_code_of(KafkaException(other)) == EXIT_FATAL
