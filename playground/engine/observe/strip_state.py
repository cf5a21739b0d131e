"""The log strip's state: every partition of an experiment's topics as a row of offsets, and what
the picture and the API are shown of it (StripView). Reads nothing: log_strip.LogStripWatch fills
it in from the raw records and Kafka's markers; the web draws a StripView.

States are kept per offset in bytearrays (one byte each), so a million records cost four
megabytes, and summarised into ranges with C-speed scans (bytes.find).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# What the consumer did with the record at an offset (the consumer lane), by name.
PROCESSED_ONCE = "processed_once"  # one handling, one effect
PROCESSED_AGAIN = "processed_again"  # handled again, one effect (deduplicated, rolled back)
DUPLICATED = "duplicated"  # more than one effect from this one log copy
NO_EFFECT = "no_effect"  # handled, no effect counted yet (deduplicated, or output not committed)
NEVER_PROCESSED = "never_processed"  # the group moved past it, or the run ended, unprocessed
WAITING = "waiting"  # in the log, not processed yet
INVISIBLE = "invisible"  # never visible to a read_committed consumer: aborted, or a marker
CONSUMER_STATES = (
    PROCESSED_ONCE, PROCESSED_AGAIN, DUPLICATED, NO_EFFECT, NEVER_PROCESSED, WAITING, INVISIBLE,
)  # fmt: skip
# Which group member handled the record at an offset (the member lane, several members only):
# "0", "1", ... by member, or SEVERAL_MEMBERS when two members or more handled it (a rebalance's
# or a zombie's second handling).
SEVERAL_MEMBERS = "several"
_SEVERAL = 255  # the member lane's code for it (a member's code is its number + 1)
# What the producer heard about the record at an offset (the producer lane).
UNACKED = "unacked"  # in the log, never acknowledged to the producer (acks=0, a lost response)
# What a record of the output topic belongs to (kafka-to-kafka).
TXN_COMMITTED, TXN_OPEN, TXN_ABORTED = "committed", "open", "aborted"
OUTPUT_STATES = (TXN_COMMITTED, TXN_OPEN, TXN_ABORTED)

MAX_RANGES = 500  # ranges per state and partition in the JSON form (the rest: "truncated")
MAX_COMMITS = 2000  # commit changes kept per partition
# Consumer-lane codes, one byte per offset.
_UNPROCESSED, _UNPROCESSED_ACKED, _ONCE, _NO_EFFECT, _AGAIN, _DUP = range(6)
_CODE_NAMES = {_ONCE: PROCESSED_ONCE, _NO_EFFECT: NO_EFFECT, _AGAIN: PROCESSED_AGAIN,
               _DUP: DUPLICATED}  # fmt: skip
# Output-lane codes: seen by the read_uncommitted reader only, or by the read_committed one too.
_OUT_SEEN, _OUT_COMMITTED = 1, 3


def _grow(array: bytearray, size: int) -> None:
    if len(array) < size:
        array.extend(bytes(size - len(array)))


def _bytes(array: bytearray) -> np.ndarray:
    """A numpy view of a strip's bytes, to write through (let go of it before the array grows)."""
    return np.frombuffer(array, np.uint8)


def _runs(array: bytearray) -> list[tuple[int, int, int]]:
    """(byte, start, end) of each run of equal bytes in `array`, in order: found by numpy, so
    only the runs, not the bytes, cost a step of Python."""
    values = _bytes(array)
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate(([0], edges)) if len(values) else edges
    ends = np.append(edges, len(values)) if len(values) else edges
    return list(zip(values[starts].tolist(), starts.tolist(), ends.tolist(), strict=True))


def _last_of_each(keys: np.ndarray) -> np.ndarray:
    """Indices of the last occurrence of each distinct key: what stands when applied in order."""
    return len(keys) - 1 - np.unique(keys[::-1], return_index=True)[1]


@dataclass
class PartitionStrip:
    """One input partition: per-offset bytes and the three markers."""

    partition: int
    acked: bytearray = field(default_factory=bytearray)  # 0, or the acking session + 1
    runs: bytearray = field(default_factory=bytearray)  # handlings of the record (max 255)
    effects: bytearray = field(default_factory=bytearray)  # effects counted from it (max 255)
    codes: bytearray = field(default_factory=bytearray)  # the consumer lane, see _code
    members: bytearray = field(
        default_factory=bytearray
    )  # the member lane: 0, member + 1, _SEVERAL
    log_end: int = 0
    committed: int | None = None  # None until the group commits
    position: int = 0
    commits: list[list] = field(default_factory=list)  # [seconds since start, offset]

    @property
    def size(self) -> int:
        """Offsets this strip covers: the log end, or further where acks ran ahead of it."""
        return max(self.log_end, len(self.codes))

    def ack(self, offsets: np.ndarray, sessions: np.ndarray) -> None:
        """Acknowledgements of the records at `offsets` to producer `sessions`, in the producer
        log's order (the last of an offset stands)."""
        self._cover(int(offsets.max()) + 1)
        last = _last_of_each(offsets)
        offsets, sessions = offsets[last], sessions[last]
        codes = _bytes(self.codes)
        _bytes(self.acked)[offsets] = np.minimum(sessions + 1, 255)
        code = codes[offsets]
        codes[offsets] = np.where(code == _UNPROCESSED, _UNPROCESSED_ACKED, code)

    def handled(
        self,
        offsets: np.ndarray,
        runs: np.ndarray,
        effects: np.ndarray,
        members: np.ndarray | None = None,
    ) -> None:
        """Handlings of the records at `offsets`: `runs` handler runs and `effects` effects each
        (counted up to 255), by group `members` (-1: not known)."""
        self._cover(int(offsets.max()) + 1)
        if members is not None:
            self._by_members(offsets, members)
        offsets, each = np.unique(offsets, return_inverse=True)
        added_runs, added_effects = np.zeros((2, len(offsets)), np.int64)
        np.add.at(added_runs, each, runs)
        np.add.at(added_effects, each, effects)
        runs_now, effects_now = _bytes(self.runs), _bytes(self.effects)
        runs_now[offsets] = np.minimum(runs_now[offsets] + added_runs, 255)
        effects_now[offsets] = np.minimum(effects_now[offsets] + added_effects, 255)
        _bytes(self.codes)[offsets] = _codes(
            runs_now[offsets], effects_now[offsets], _bytes(self.acked)[offsets]
        )

    def _by_members(self, offsets: np.ndarray, members: np.ndarray) -> None:
        """Note which member handled each offset: a second member makes it _SEVERAL."""
        known = members >= 0
        offsets, codes = offsets[known], np.minimum(members[known] + 1, _SEVERAL - 1)
        if not len(offsets):
            return
        order = np.lexsort((codes, offsets))
        offsets, codes = offsets[order], codes[order]
        first = np.flatnonzero(np.concatenate(([True], offsets[1:] != offsets[:-1])))
        last = np.append(first[1:], len(offsets)) - 1
        unique, low, high = offsets[first], codes[first], codes[last]
        lane = _bytes(self.members)
        before = lane[unique]
        mixed = (low != high) | ((before != 0) & (before != low))
        lane[unique] = np.where(mixed, _SEVERAL, low).astype(np.uint8)

    def _cover(self, size: int) -> None:
        for array in (self.acked, self.runs, self.effects, self.codes, self.members):
            _grow(array, size)

    def lost_below(self, final: bool) -> int:
        """Unprocessed records below this offset are never processed: the whole log once the run
        has ended; during it, what lies below both the committed offset (the group moved past
        it) and the position (the consumer moved past it)."""
        if final:
            return self.size
        if self.committed is None:
            return 0
        return min(self.committed, self.position)


def _codes(runs: np.ndarray, effects: np.ndarray, acked: np.ndarray) -> np.ndarray:
    """The consumer lane's code of records with these handler runs, effects and acks."""
    runs = np.maximum(runs, effects)  # the committed reader may see a copy before the other one
    return np.select(
        [effects >= 2, runs >= 2, (runs == 1) & (effects == 1), runs == 1, acked > 0],
        [_DUP, _AGAIN, _ONCE, _NO_EFFECT, _UNPROCESSED_ACKED],
        _UNPROCESSED,
    ).astype(np.uint8)


@dataclass
class OutputStrip:
    """One output partition (kafka-to-kafka): which transaction state each record is in."""

    partition: int
    codes: bytearray = field(default_factory=bytearray)
    log_end: int = 0
    last_stable: int = 0

    def seen(self, offsets: np.ndarray, code: int) -> None:
        """Records at `offsets` read by the reader of `code` (_OUT_SEEN or _OUT_COMMITTED)."""
        _grow(self.codes, int(offsets.max()) + 1)
        codes = _bytes(self.codes)
        codes[offsets] = np.maximum(codes[offsets], code)


class StripView:
    """The strips summarised: per partition the markers, the consumer and producer lanes as
    ranges by state, and the state of any offset range (for drawing buckets)."""

    def __init__(
        self,
        partitions: list[PartitionStrip],
        outputs: list[OutputStrip],
        *,
        hidden_unacked: bool,
        handled: int,
        sessions_acked: set[int],
        final: bool,
    ) -> None:
        self.final = final
        self.hidden_unacked = hidden_unacked
        self.partitions = partitions
        self.outputs = outputs
        self.handled = handled  # handlings seen so far (the live benchmark reads it)
        self._sessions = sorted(sessions_acked, reverse=True)

    # The state of offsets [start, end) of a partition, the most telling state first: an
    # anomaly before a redelivery, before a clean handling, before what is still to come.
    def consumer_state(self, strip: PartitionStrip, start: int, end: int) -> str:
        codes = strip.codes
        end = min(end, len(codes))
        if codes.find(_DUP, start, end) >= 0:
            return DUPLICATED
        lost_end = min(end, strip.lost_below(self.final))
        if start < lost_end and (
            codes.find(_UNPROCESSED_ACKED, start, lost_end) >= 0
            or (not self.hidden_unacked and codes.find(_UNPROCESSED, start, lost_end) >= 0)
        ):
            return NEVER_PROCESSED
        for code in (_AGAIN, _NO_EFFECT, _ONCE):
            if codes.find(code, start, end) >= 0:
                return _CODE_NAMES[code]
        if self.final and self.hidden_unacked:
            return INVISIBLE
        return WAITING

    def member_state(self, strip: PartitionStrip, start: int, end: int) -> str | None:
        """SEVERAL_MEMBERS if two members handled a record of [start, end), else the member
        (as a string) that handled the most recent one there, None if none was handled."""
        lane = strip.members
        end = min(end, len(lane))
        if start >= end:
            return None
        if lane.find(_SEVERAL, start, end) >= 0:
            return SEVERAL_MEMBERS
        handled = lane[start:end].rstrip(b"\x00")
        return str(handled[-1] - 1) if handled else None

    @property
    def several_members(self) -> bool:
        """Whether any record was handled by a member other than the first: the member lane
        is drawn only then."""
        return any(lane.strip(b"\x00\x01") for lane in (s.members for s in self.partitions))

    def producer_state(self, strip: PartitionStrip, start: int, end: int) -> str | int:
        """UNACKED, or the newest producer session that had records here acknowledged."""
        acked = strip.acked
        end = min(end, len(acked))
        if start >= end or acked.find(0, start, end) >= 0:
            return UNACKED
        for session in self._sessions:
            if acked.find(min(session + 1, 255), start, end) >= 0:
                return session
        return UNACKED

    def output_state(self, out: OutputStrip, start: int, end: int) -> str | None:
        codes = out.codes
        end = min(end, len(codes))
        below = min(end, out.last_stable)
        if start < below and codes.find(_OUT_SEEN, start, below) >= 0:
            return TXN_ABORTED
        if max(start, out.last_stable) < end and (
            codes.find(_OUT_SEEN, max(start, out.last_stable), end) >= 0
        ):
            return TXN_OPEN
        if codes.find(_OUT_COMMITTED, start, end) >= 0:
            return TXN_COMMITTED
        return None  # transaction markers only

    def to_json(self) -> dict:
        """The API's form: `partitions` (and `output_partitions` for kafka-to-kafka)."""
        data: dict = {"partitions": [self._partition_json(s) for s in self.partitions]}
        if self.outputs:
            data["output_partitions"] = [self._output_json(o) for o in self.outputs]
        return data

    def _partition_json(self, strip: PartitionStrip) -> dict:
        ranges: dict[str, list[list[int]]] = {name: [] for name in CONSUMER_STATES}
        lost_end = strip.lost_below(self.final)
        for code, start, end in _runs(strip.codes):
            if code in _CODE_NAMES:
                _add(ranges[_CODE_NAMES[code]], start, end)
                continue
            hidden = code == _UNPROCESSED and self.hidden_unacked
            if start < lost_end and not hidden:
                _add(ranges[NEVER_PROCESSED], start, min(end, lost_end))
            rest = max(start, lost_end) if not hidden else start
            if rest < end:
                _add(ranges[INVISIBLE if hidden and self.final else WAITING], rest, end)
        if len(strip.codes) < strip.log_end:  # beyond what any record mentions yet
            beyond = INVISIBLE if self.hidden_unacked and self.final else WAITING  # a last marker
            _add(ranges[beyond], len(strip.codes), strip.log_end)
        acked: dict[str, list[list[int]]] = {}
        unacked: list[list[int]] = []
        for code, start, end in _runs(strip.acked):
            _add(acked.setdefault(str(code - 1), []) if code else unacked, start, end)
        if len(strip.acked) < strip.log_end:
            _add(unacked, len(strip.acked), strip.log_end)
        by_member: dict[str, list[list[int]]] = {}
        for code, start, end in _runs(strip.members):
            if code:
                name = SEVERAL_MEMBERS if code == _SEVERAL else str(code - 1)
                _add(by_member.setdefault(name, []), start, end)
        truncated = any(
            len(r) >= MAX_RANGES for r in (*ranges.values(), *acked.values(), *by_member.values())
        )
        return {
            "partition": strip.partition,
            "log_end": strip.log_end,
            "committed": strip.committed,
            "position": strip.position,
            "ranges": {name: found for name, found in ranges.items() if found},
            "acked_by_session": acked,
            "handled_by_member": by_member,
            UNACKED: unacked,
            "commits": strip.commits,
            "finished": self._finished(strip),
            "truncated": truncated,
        }

    def _finished(self, strip: PartitionStrip) -> bool:
        """Whether the group's commit covers every record the consumer could read: the whole log,
        or all of it but what a read_committed consumer never receives (a transaction's closing
        marker takes the last offset, and a consumer commits one past the last record it got)."""
        if strip.committed is None:
            return strip.log_end == 0
        rest = strip.codes[strip.committed : strip.log_end]
        return strip.committed >= strip.log_end or (
            self.hidden_unacked and not rest.strip(bytes([_UNPROCESSED]))
        )

    def _output_json(self, out: OutputStrip) -> dict:
        ranges: dict[str, list[list[int]]] = {name: [] for name in OUTPUT_STATES}
        for code, start, end in _runs(out.codes):
            if code == _OUT_COMMITTED:
                _add(ranges[TXN_COMMITTED], start, end)
            elif code == _OUT_SEEN:
                if start < out.last_stable:
                    _add(ranges[TXN_ABORTED], start, min(end, out.last_stable))
                if end > out.last_stable:
                    _add(ranges[TXN_OPEN], max(start, out.last_stable), end)
        return {
            "partition": out.partition,
            "log_end": out.log_end,
            "last_stable": out.last_stable,
            "ranges": {name: found for name, found in ranges.items() if found},
        }


def _add(ranges: list[list[int]], start: int, end: int) -> None:
    """Append [start, end) to `ranges`, joined to the last range when they touch."""
    if ranges and ranges[-1][1] == start:
        ranges[-1][1] = end
    elif len(ranges) < MAX_RANGES:
        ranges.append([start, end])
