"""The log strip as SVG pictures, rendered on the server like the chart: one row per partition,
its offsets left to right in buckets (ranges, when there are many), and the three markers.

A row has two lanes: the thin upper one says what the producer heard (acknowledged, by which
session, or never), the thick lower one what the consumer did (see log_strip's states). When
records were handled by more than one member of the consumer group, a third, thin lane under them
says by which member, and marks the records two members handled. Above the lanes a triangle
marks the consumer's position, below them one marks the group's committed offset, and a bar
crosses both at the log end.

Size matters, because this goes to every viewer several times a second: lanes are drawn as one
path per state (consecutive buckets in one state are one segment, in bucket units under a scale
transform), so 12 partitions of a million records stay well under 20 KB whatever the states.
"""

from __future__ import annotations

import math
from html import escape

from playground.engine.observe.strip_state import (
    DUPLICATED,
    NEVER_PROCESSED,
    SEVERAL_MEMBERS,
    UNACKED,
    OutputStrip,
    PartitionStrip,
    StripView,
)

WIDTH = 1000
LANES_X, LANES_WIDTH = 44, 620  # where the offsets are drawn
TEXT_X = LANES_X + LANES_WIDTH + 14  # the markers' numbers, right of the lanes
ROW_HEIGHT = 40
PRODUCER_LANE_Y, PRODUCER_LANE_HEIGHT = 8, 6
CONSUMER_LANE_Y, CONSUMER_LANE_HEIGHT = 20, 14
MEMBER_LANE_Y = 39  # under the consumer lane and the committed marker, in a taller row
MEMBER_ROW_HEIGHT = 46  # a row's height when it has a member lane
BUCKETS = 64  # the widest partition is drawn in this many buckets
TOP = 4
# The producer lane's classes (the consumer's and the output's are the state names of log_strip):
# sessions alternate between two colours, so a restarted producer's records stand apart.
PRODUCER_EVEN, PRODUCER_ODD, PRODUCER_UNACKED = "p-even", "p-odd", "p-unacked"
# The member lane's classes: one colour per member (four, then again), one for two members.
MEMBER_COLOURS = 4
MEMBER_SEVERAL = "g-several"


def member_class(state: str) -> str:
    """The member lane's class for a member_state: "g-0" to "g-3", or MEMBER_SEVERAL."""
    if state == SEVERAL_MEMBERS:
        return MEMBER_SEVERAL
    return f"g-{int(state) % MEMBER_COLOURS}"


def render_input(view: StripView) -> str:
    """The input topic's strip: both lanes and the three markers of every partition."""
    rows = view.partitions
    span = _span(max((strip.size for strip in rows), default=0))
    lanes: dict[str, list[str]] = {}
    markers = []
    members = view.several_members
    row_height = MEMBER_ROW_HEIGHT if members else ROW_HEIGHT
    for index, strip in enumerate(rows):
        top = TOP + index * row_height
        _lane(lanes, strip.size, span, top + CONSUMER_LANE_Y,
              lambda a, b, s=strip: view.consumer_state(s, a, b))  # fmt: skip
        _lane(lanes, strip.size, span, top + PRODUCER_LANE_Y,
              lambda a, b, s=strip: _producer_class(view.producer_state(s, a, b)))  # fmt: skip
        if members:
            _lane(lanes, strip.size, span, top + MEMBER_LANE_Y,
                  lambda a, b, s=strip: _member_class(view.member_state(s, a, b)))  # fmt: skip
        markers.append(_input_row(strip, top, span))
    anomalies = sum(1 for paths in (lanes.get(DUPLICATED), lanes.get(NEVER_PROCESSED)) if paths)
    label = (
        f"The orders topic: {len(rows)} partition{'s' if len(rows) != 1 else ''}, "
        f"{sum(s.log_end for s in rows):,} records in the log"
        + (", with lost or duplicated ranges marked" if anomalies else "")
        + (", and the group member that handled each record" if members else "")
    )
    extra = f' data-handled="{view.handled}"' + (' data-members="1"' if members else "")
    return _svg("log-strip", len(rows), label, lanes, markers, extra, row_height)


def render_output(view: StripView) -> str:
    """The output topic's strip (kafka-to-kafka): its records by transaction state."""
    rows = view.outputs
    span = _span(max((len(out.codes) for out in rows), default=0) or 0)
    lanes: dict[str, list[str]] = {}
    markers = []
    for index, out in enumerate(rows):
        top = TOP + index * ROW_HEIGHT
        _lane(lanes, len(out.codes), span, top + CONSUMER_LANE_Y,
              lambda a, b, o=out: view.output_state(o, a, b))  # fmt: skip
        markers.append(_output_row(out, top, span))
    label = f"The totals topic: {len(rows)} partitions, by transaction"
    return _svg("log-strip output-strip", len(rows), label, lanes, markers, "")


def _span(size: int) -> int:
    """Offsets per bucket, so that the widest partition fills BUCKETS buckets."""
    return max(1, math.ceil(size / BUCKETS))


def _x(offset: int, span: int) -> float:
    return round(LANES_X + LANES_WIDTH * offset / (span * BUCKETS), 1)


def _member_class(state: str | None) -> str | None:
    return None if state is None else member_class(state)


def _producer_class(state: str | int) -> str:
    if state == UNACKED:
        return PRODUCER_UNACKED
    return PRODUCER_ODD if int(state) % 2 else PRODUCER_EVEN


def _lane(lanes: dict[str, list[str]], size: int, span: int, y: int, state_of) -> None:
    """Add one lane's segments to `lanes` (css class -> path pieces), in bucket units: a run of
    buckets in the same state is one segment."""
    buckets = math.ceil(size / span)
    start, current = 0, None
    for bucket in range(buckets + 1):
        state = state_of(bucket * span, (bucket + 1) * span) if bucket < buckets else None
        if state == current:
            continue
        if current is not None:  # (a None state, nothing to draw, is a gap)
            lanes.setdefault(current, []).append(f"M{start} {y}h{bucket - start}")
        start, current = bucket, state


def _width(state: str) -> str:
    """The lane a class is drawn in: the producer's and the members' thin, the consumer's thick."""
    if state.startswith("p-"):
        return "thin"
    return "slim" if state.startswith("g-") else "thick"


def _input_row(strip: PartitionStrip, top: int, span: int) -> str:
    end_x = _x(strip.log_end, span)
    parts = [
        f'<g class="row" data-partition="{strip.partition}" data-end="{strip.log_end}" '
        f'data-committed="{"" if strip.committed is None else strip.committed}" '
        f'data-position="{strip.position}">',
        f'<text x="0" y="{top + 25}" class="name">p{strip.partition}</text>',
        f'<path class="m-end" d="M{end_x} {top + 3}v28"/>',
        f'<path class="m-position" d="M{_x(strip.position, span)} {top + 6}l-5 -6h10z"/>',
    ]
    committed = "none"
    if strip.committed is not None:
        committed = f"{strip.committed:,}"
        parts.append(
            f'<path class="m-committed" d="M{_x(strip.committed, span)} {top + 29}l-5 6h10z"/>'
        )
    parts.append(
        f'<text x="{TEXT_X}" y="{top + 25}" class="numbers">end {strip.log_end:,} · committed '
        f"{committed} · position {strip.position:,}</text></g>"
    )
    return "".join(parts)


def _output_row(out: OutputStrip, top: int, span: int) -> str:
    return (
        f'<g class="row" data-partition="{out.partition}" data-end="{out.log_end}" '
        f'data-stable="{out.last_stable}">'
        f'<text x="0" y="{top + 25}" class="name">p{out.partition}</text>'
        f'<path class="m-end" d="M{_x(out.log_end, span)} {top + 3}v28"/>'
        f'<path class="m-stable" d="M{_x(out.last_stable, span)} {top + 29}l-5 6h10z"/>'
        f'<text x="{TEXT_X}" y="{top + 25}" class="numbers">end {out.log_end:,} · stable '
        f"{out.last_stable:,}</text></g>"
    )


def _svg(
    css: str,
    rows: int,
    label: str,
    lanes: dict[str, list[str]],
    markers: list[str],
    extra: str,
    row_height: int = ROW_HEIGHT,
) -> str:
    height = TOP + max(rows, 1) * row_height
    scale = LANES_WIDTH / BUCKETS
    paths = "".join(
        f'<path class="{state} {_width(state)}" d="{"".join(pieces)}"/>'
        for state, pieces in lanes.items()
    )
    return (
        f'<svg class="{css}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(label)}"{extra}>'
        f'<g transform="translate({LANES_X} 0) scale({scale:g} 1)">{paths}</g>'
        f"{''.join(markers)}</svg>"
    )
