"""The journal's writer: whole lines, and a line cut off by a crash never glued to the next one,
with one writer or several at once (real processes, one of them SIGKILLed).

Pure file logic: no Kafka here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from playground.engine.formats.journal import CUT_OFF_SEARCH_BYTES, Journal, read_lines


def test_a_new_writer_drops_the_line_a_crash_cut_off(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')  # a SIGKILL stopped the last write short
    journal = Journal(path)
    journal.write(b'{"d":4}\n')
    journal.close()
    assert list(read_lines(path)) == ['{"a":1}\n', '{"b":2}\n', '{"d":4}\n']


def test_a_new_writer_keeps_a_journal_of_whole_lines_as_it_is(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"one\ntwo\n")
    Journal(path).close()
    assert path.read_bytes() == b"one\ntwo\n"
    Journal(tmp_path / "new.jsonl").close()
    assert (tmp_path / "new.jsonl").read_bytes() == b""


def test_a_cut_off_line_longer_than_one_search_is_dropped_whole(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"whole\n" + b"x" * (2 * CUT_OFF_SEARCH_BYTES + 17))
    Journal(path).close()
    assert path.read_bytes() == b"whole\n"
    path.write_bytes(b"y" * (CUT_OFF_SEARCH_BYTES + 3))  # no complete line at all
    Journal(path).close()
    assert path.read_bytes() == b""


# -- several writers at once (shared: the ledger, the group log) --------------------------------
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# A writer process: appends its batch of numbered lines to a shared journal, says so after the
# first, then again and again (a pause between two) until `stop` exists (reopening the journal
# before each batch when asked, so that the drop at open meets the others' appends).
WRITER = """
import sys, time
from pathlib import Path
from playground.engine.formats.journal import Journal
path, writer, stop, batch, pause, reopen = sys.argv[1:]
writer, stop, pause = int(writer), Path(stop), float(pause)
lines = b"".join(b'{"writer":%d,"n":%d,"pad":"%s"}\\n' % (writer, n, b"x" * 90)
                 for n in range(int(batch)))
journal = Journal(Path(path), shared=True)
journal.write(lines)
print("wrote", flush=True)
while not stop.exists():
    time.sleep(pause)
    if reopen == "reopen":
        journal.close()
        journal = Journal(Path(path), shared=True)
    journal.write(lines)
journal.close()
"""

# A writer that dies holding the lock, its line cut off: it appends half a line under the lock,
# says so, and waits for its SIGKILL.
CUT_OFF_HOLDER = """
import sys, time
from pathlib import Path
from playground.engine.formats.journal import Journal
journal = Journal(Path(sys.argv[1]), shared=True)
with journal.exclusive():
    journal.append(b'{"cut":')
    print("holding", flush=True)
    time.sleep(60)
"""


def start(script: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE
    )


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_shared_writer_drops_a_line_cut_off_after_it_opened(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b"one\n{")  # cut off before the writer opened
    journal = Journal(path, shared=True)
    assert path.read_bytes() == b"one\n"
    with path.open("ab") as other:
        other.write(b"two\n{")  # another writer's whole line, then its cut-off one
    journal.write(b"three\n")
    journal.close()
    assert path.read_bytes() == b"one\ntwo\nthree\n"


def test_whole_lines_reads_whole_lines_only_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("playground.engine.formats.journal.READ_CHUNK_BYTES", 8)
    path = tmp_path / "ledger.jsonl"
    journal = Journal(path)
    with path.open("ab") as writer:
        writer.write(b"a\nbb\n" + b"c" * 20 + b"\nddd\ncut")  # a line longer than a chunk
    chunks = list(journal.whole_lines(0, path.stat().st_size))
    journal.close()
    assert chunks == [b"a\nbb\n", b"c" * 20 + b"\nddd\n"]  # "cut": a cut-off line, left out
    assert b"".join(chunks) == b"a\nbb\n" + b"c" * 20 + b"\nddd\n"
    journal = Journal(path, shared=True)
    with journal.exclusive() as end:
        assert end == len(b"a\nbb\n" + b"c" * 20 + b"\nddd\n")
        assert b"".join(journal.whole_lines(5, end)) == b"c" * 20 + b"\nddd\n"
    journal.close()


def test_a_writer_killed_holding_the_lock_neither_blocks_the_others_nor_glues_their_lines(
    tmp_path,
):
    path = tmp_path / "ledger.jsonl"
    journal = Journal(path, shared=True)
    journal.write(b"first\n")
    holder = start(CUT_OFF_HOLDER, path)
    try:
        assert holder.stdout.readline() == b"holding\n"
        waiting = threading.Thread(target=journal.write, args=(b"second\n",))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # the lock is held: the write waits
        assert path.read_bytes() == b'first\n{"cut":'
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    waiting.join(10)  # the kernel let the lock go with the killed writer
    assert not waiting.is_alive()
    journal.close()
    assert path.read_bytes() == b"first\nsecond\n"


def test_several_writers_at_once_one_killed_mid_write_leave_only_whole_lines(tmp_path):
    """Four processes append at once (one reopening the journal before each batch); the one
    writing batches of megabytes back to back, so killed inside a write most of the time, is
    SIGKILLed while the others go on: every line read back is whole, and each writer's lines are
    there whole batch after whole batch, the killed one's last batch cut at a line's end."""
    path, stop = tmp_path / "ledger.jsonl", tmp_path / "stop"
    batches = {0: 50, 1: 7, 2: 5, 3: 30_000}  # lines a batch; writer 3 is killed
    writers = {
        writer: start(WRITER, path, writer, stop, batch, 0 if writer == 3 else 0.001,
                      "reopen" if writer == 2 else "keep")
        for writer, batch in batches.items()
    }  # fmt: skip
    try:
        for writer in writers.values():
            assert writer.stdout.readline() == b"wrote\n"
        time.sleep(0.01)  # into one of its next writes
        writers[3].send_signal(signal.SIGKILL)
        writers[3].wait()
        size = path.stat().st_size
        wait_for(lambda: path.stat().st_size > size + 100_000)  # the others go on after it
    finally:
        stop.touch()
        for writer in writers.values():
            writer.wait(20)
    assert [writers[writer].returncode for writer in (0, 1, 2)] == [0, 0, 0]
    data = path.read_bytes()
    assert data.endswith(b"\n")
    numbers = {writer: [] for writer in writers}
    for line in data.splitlines():
        fields = json.loads(line)
        assert fields.keys() == {"writer", "n", "pad"} and fields["pad"] == "x" * 90
        numbers[fields["writer"]].append(fields["n"])
    for writer, batch in batches.items():
        assert numbers[writer] == [n % batch for n in range(len(numbers[writer]))]
        assert len(numbers[writer]) % batch == 0 or writer == 3
