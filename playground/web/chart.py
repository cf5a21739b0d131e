"""The live timeline as an SVG picture: throughput and duplicates over time, with every fault,
crash, restart and action marked where it happened. Pure functions of the series and events."""

from __future__ import annotations

from html import escape
from itertools import pairwise

from playground.engine.run import timeline

WIDTH, HEIGHT = 720, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 32, 24
# The legend: (css class, how it is drawn, label).
LEGEND = (
    ("throughput", "line", "deliveries/s"),
    ("duplicates", "line", "duplicates (own scale)"),
    (f"marker-{timeline.FAULT}", "mark", "fault"),
    (f"marker-{timeline.CRASH}", "mark", "crash"),
    (f"marker-{timeline.RESTART}", "mark", "restart"),
    (f"marker-{timeline.ACTION}", "mark", "your action"),
)
MAX_POINTS = 300
# Events drawn as a marker: all but the run's phases, the workers' clean ends and what the
# group gave and took (a rebalance is many such events at once; the timeline lists them).
MARKED_KINDS = frozenset(timeline.EVENT_KINDS) - {timeline.PHASE, timeline.STOP, timeline.GROUP}


def throughput(series: list[tuple[float, int]]) -> list[tuple[float, float]]:
    """Records/s between consecutive samples of a cumulative count."""
    rates = []
    for (t0, n0), (t1, n1) in pairwise(series):
        if t1 > t0:
            rates.append((t1, max(n1 - n0, 0) / (t1 - t0)))
    return rates


def downsample(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list:
    if len(points) <= limit:
        return points
    step = len(points) / limit
    return [points[int(i * step)] for i in range(limit)] + [points[-1]]


def smooth(points: list[tuple[float, float]], window: int = 5) -> list[tuple[float, float]]:
    """A moving average, so that 10 samples a second draw a readable line."""
    out = []
    for i, (t, _) in enumerate(points):
        chunk = points[max(0, i - window + 1) : i + 1]
        out.append((t, sum(v for _, v in chunk) / len(chunk)))
    return out


def render(samples: list[dict], events: list[dict]) -> str:
    """samples: {"t", "delivered", "duplicated"} in time order; events: timeline entries."""
    span = max([s["t"] for s in samples] + [e["at"] for e in events] + [1.0])
    rates = smooth(throughput([(s["t"], s["delivered"]) for s in samples]))
    top = max([r for _, r in rates] + [1.0]) * 1.1
    dups = [(s["t"], s["duplicated"]) for s in samples]
    dup_top = max([d for _, d in dups] + [1])

    def x(t: float) -> float:
        return PAD_LEFT + (WIDTH - PAD_LEFT - PAD_RIGHT) * t / span

    def y(value: float, high: float) -> float:
        return HEIGHT - PAD_BOTTOM - (HEIGHT - PAD_TOP - PAD_BOTTOM) * value / high

    parts = [
        f'<svg class="timeline-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="throughput and duplicates over time">',
        f'<line class="axis" x1="{PAD_LEFT}" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH - PAD_RIGHT}" '
        f'y2="{HEIGHT - PAD_BOTTOM}"/>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end">'
        f"{top:.0f}/s</text>",
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{HEIGHT - PAD_BOTTOM}" '
        'text-anchor="end">0</text>',
        f'<text class="tick" x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{span:.1f} s</text>",
    ]
    if rates:
        points = " ".join(f"{x(t):.1f},{y(r, top):.1f}" for t, r in downsample(rates))
        parts.append(f'<polyline class="throughput" points="{points}"/>')
    if any(d for _, d in dups):
        points = " ".join(f"{x(t):.1f},{y(d, dup_top):.1f}" for t, d in downsample(dups))
        parts.append(f'<polyline class="duplicates" points="{points}"/>')
    for event in events:
        if event["kind"] not in MARKED_KINDS:
            continue
        at = x(event["at"])
        label = escape(f"{event['at']:.1f} s: {event['detail']}")
        parts.append(
            f'<g class="marker marker-{escape(event["kind"])}"><title>{label}</title>'
            f'<line x1="{at:.1f}" y1="{PAD_TOP}" x2="{at:.1f}" y2="{HEIGHT - PAD_BOTTOM}"/></g>'
        )
    parts.append(legend())
    parts.append("</svg>")
    return "".join(parts)


def legend() -> str:
    parts, x = ['<g class="legend">'], PAD_LEFT
    for css, drawn, label in LEGEND:
        if drawn == "line":
            parts.append(f'<polyline class="{css}" points="{x},12 {x + 18},12"/>')
        else:
            parts.append(
                f'<g class="marker {css}"><line x1="{x + 9}" y1="4" x2="{x + 9}" y2="20"/></g>'
            )
        parts.append(f'<text class="tick" x="{x + 22}" y="16">{label}</text>')
        x += 30 + 6.2 * len(label)
    parts.append("</g>")
    return "".join(parts)
