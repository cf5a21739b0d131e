"""A worker whose client can do nothing more ends within a second, wherever its main thread waits.

A fatal error, or a fencing (a newer instance took the client's transactional id or its static
group membership), leaves the client unable to do anything more; the loops end the worker when
they see one (Runtime.raise_if_fatal). But confluent-kafka serves a client's error callback only
from that client's own poll, flush or consume: a consumer fenced while its main thread waits in its
output producer's flush (answers lost on the wire, retried every few seconds) hears of it only once
the flush returns, which a fault can make minutes, and until then nobody restarts it. librdkafka
itself logs every fatal error at once, from its own threads, to the process's stderr, which is the
session's log (__main__.log_to), in a line such as

    %0|1796646889.060|FATAL|<client id>#consumer-3| [thrd:main]: Fatal error: Broker: Static
    consumer fenced by other consumer with same group.instance.id: <reason>

The watchdog, a daemon thread, reads what is appended to that log and the errors the callbacks
remembered. A fatal error the loop has not acted on within GRACE_SECONDS ends the process: the
reason on stderr, then os._exit with the code exits.py maps the error to (EXIT_FENCED, EXIT_FATAL),
so that supervision restarts it as it restarts any fenced or fatal exit. The grace lets a loop that
is not stuck end the worker its own way first (it writes what it has not logged yet).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException

from playground.engine.workers.exits import describe, exit_code_of
from playground.engine.workers.runtime import Runtime

CHECK_INTERVAL_SECONDS = 0.1
GRACE_SECONDS = 0.5
FATAL_FACILITY = b"|FATAL|"  # librdkafka's log facility for a fatal error (level 0)
FATAL_TEXT = "Fatal error: "


def _error_descriptions() -> list[tuple[str, int]]:
    """librdkafka's description of each error code (what a FATAL line names), longest first."""
    codes = {value for name, value in vars(KafkaError).items()
             if name.isupper() and isinstance(value, int)}  # fmt: skip
    return sorted(((KafkaError(code).str(), code) for code in codes), key=lambda p: -len(p[0]))


def fatal_error_in(line: str) -> KafkaError | None:
    """The fatal error a librdkafka FATAL log line reports (its code read from its description),
    or None if `line` is no such line."""
    if FATAL_FACILITY.decode() not in line or FATAL_TEXT not in line:
        return None
    text = line.split(FATAL_TEXT, 1)[1].strip()
    for description, code in _DESCRIPTIONS:
        if text.startswith(description):
            return KafkaError(code, text, fatal=True)
    return KafkaError(KafkaError._FATAL, text, fatal=True)


_DESCRIPTIONS = _error_descriptions()


class Watchdog:
    """Ends the worker once a fatal error has gone unanswered by its loop for GRACE_SECONDS."""

    def __init__(self, runtime: Runtime, log: Path) -> None:
        self.runtime = runtime
        self.log = log
        self._offset = log.stat().st_size if log.exists() else 0  # this session's lines only
        self._partial = b""
        self._seen: tuple[float, KafkaError] | None = None  # when, and what, from the log

    def start(self) -> None:
        threading.Thread(target=self._watch, name="watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(CHECK_INTERVAL_SECONDS)
            if self._seen is None:
                self._seen = self._read_log()
            noticed = [] if self._seen is None else [self._seen]
            if self.runtime.fatal_error is not None:
                noticed.append((self.runtime.fatal_at, self.runtime.fatal_error))
            if noticed:
                at, error = min(noticed, key=lambda n: n[0])
                if time.monotonic() - at >= GRACE_SECONDS:
                    self._end(error)

    def _read_log(self) -> tuple[float, KafkaError] | None:
        """A fatal error librdkafka logged since the last look, and now, or None."""
        try:
            with self.log.open("rb") as log:
                log.seek(self._offset)
                appended = log.read()
        except OSError:
            return None
        self._offset += len(appended)
        lines = (self._partial + appended).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if FATAL_FACILITY in line:
                error = fatal_error_in(line.decode(errors="replace"))
                if error is not None:
                    return time.monotonic(), error
        return None

    @staticmethod
    def _end(error: KafkaError) -> None:
        code = exit_code_of(KafkaException(error))
        print(
            f"worker ended: {describe(code)}: {error.str()} (ended by its watchdog: its loop was "
            f"still waiting in a client call {GRACE_SECONDS:g} s later)",
            file=sys.stderr,
            flush=True,
        )
        os._exit(code)
