"""The lab: a real KRaft Kafka cluster started as child processes, and a fault proxy in front of it.

It knows nothing of experiments. The engine and the web layer drive it through `LabClient`.
"""
