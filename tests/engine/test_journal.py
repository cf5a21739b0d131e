"""The journal's writer: whole lines, and a line cut off by a crash never glued to the next one.

Pure file logic: no Kafka here.
"""

from __future__ import annotations

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
