"""The audit: a finished run's three raw records (the producer log, the Kafka log read back, the
sink) gathered (evidence, kafka_log, records, record_tables), counted and checked against their
invariants (reckoning), each order's story kept (story_book), and how fast the run went (timing).
Its words (outcomes) are what the pages import; the rest reads the records. Imports formats/,
spec/ and run/naming, never observe/ or the web."""
