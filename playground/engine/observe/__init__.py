"""A run watched while it goes, from outside its workers: the live tally of the counters (tally),
the log strip (log_strip reads, strip_state holds what the page is shown), the Kafka questions
asked by a child process (kafka_questions), and the observer that times them to the conductor's
snapshots and hands them to the web (run_observer)."""
