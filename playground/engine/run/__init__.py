"""One run on the cluster: the conductor, the supervisor of the worker processes (workers/ holds
their code), the faults and their timeline, the clients' configuration, the cluster an
experiment runs against, and its topics, created before the run and deleted after it (with
apart: a Kafka client's job in a child process)."""
