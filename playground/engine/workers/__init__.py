"""Producer and consumer (or transformer): each in its own OS process, so a crash is a SIGKILL.

What a worker does lives in producer.py, consumer.py (the loop) and handlers.py (charge the order,
or add it to the running total); how it runs (its orders, its conversation with the conductor,
its crash points) lives in runtime.py.
"""
