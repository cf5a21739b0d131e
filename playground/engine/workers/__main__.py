"""`python -m playground.engine.workers ORDERS`: one worker session, started by the conductor."""

from __future__ import annotations

from playground.engine.workers import consumer, producer
from playground.engine.workers.runtime import Runtime, orders_from_argv

ROLES = {"producer": producer.main, "consumer": consumer.main}

if __name__ == "__main__":
    orders = orders_from_argv()
    ROLES[orders.role](Runtime(orders))
