"""The trade-off comparison's bar charts, as SVG drawn on the server: throughput and latency per
spec side by side, one horizontal bar per spec at the median of its cost rounds, a whisker from
the lowest round to the highest (the spread), and for latency a tick at p99; then the latency of
each guarantee run before its first fault (one run each, so no whisker).

Horizontal bars keep the labels readable on a phone: the picture scales to the page's width and
each spec keeps its own row.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from playground.web.comparisons.measurements import Column

WIDTH = 600
LABEL_WIDTH = 80  # "spec 1" at the left of each bar
BARS_WIDTH = 420
ROW_HEIGHT = 36
BAR_HEIGHT = 20
TOP = 6


def render(columns: Sequence[Column]) -> list[tuple[str, str]]:
    """The two charts as (title, SVG): throughput, then latency; [] before any cost round is in."""
    if not any(c.cost("records_per_second").median is not None for c in columns):
        return []
    charts = [
        ("Throughput at full speed, records/s (higher is better)", _throughput(columns)),
        ("Latency at full speed, ms: p50 bar, p99 tick", _latency(columns)),
    ]
    if any(column.undisturbed for column in columns):
        charts.append(("Latency at each spec's own pace, before the fault, ms", _paced(columns)))
    return charts


def _throughput(columns: Sequence[Column]) -> str:
    figures = [c.cost("records_per_second") for c in columns]
    scale = _scale(max((f.high or 0 for f in figures), default=0))
    rows = []
    for index, (column, figure) in enumerate(zip(columns, figures, strict=True)):
        rows.append(_row(index, column.number, figure.median, figure.low, figure.high, scale))
    title = "Throughput of each spec at the median of its cost rounds, with the spread of rounds"
    return _svg("throughput", len(columns), title, rows)


def _latency(columns: Sequence[Column]) -> str:
    p50s = [c.cost("latency_ms_p50") for c in columns]
    p99s = [c.cost("latency_ms_p99") for c in columns]
    scale = _scale(max((f.high or 0 for f in (*p50s, *p99s)), default=0))
    rows = []
    for index, (column, p50, p99) in enumerate(zip(columns, p50s, p99s, strict=True)):
        row = _row(index, column.number, p50.median, p50.low, p50.high, scale, p99.median)
        if p99.median is not None:
            row += _tick(index, p99.median, scale)
        rows.append(row)
    title = "End-to-end latency p50 of each spec, with the spread of rounds and a tick at p99"
    return _svg("latency", len(columns), title, rows)


def _paced(columns: Sequence[Column]) -> str:
    """The guarantee runs' undisturbed latency: one run each, so a bar and a p99 tick, no
    spread."""
    figures = [column.undisturbed or {} for column in columns]
    scale = _scale(max((f.get("latency_ms_p99") or 0 for f in figures), default=0))
    rows = []
    for index, (column, figure) in enumerate(zip(columns, figures, strict=True)):
        p50, p99 = figure.get("latency_ms_p50"), figure.get("latency_ms_p99")
        row = _row(index, column.number, p50, None, None, scale, p99)
        if p99 is not None:
            row += _tick(index, p99, scale)
        rows.append(row)
    title = "End-to-end latency p50 of each spec's guarantee run before its first fault, p99 tick"
    return _svg("paced", len(columns), title, rows)


def _tick(index: int, p99: float, scale: float) -> str:
    x = LABEL_WIDTH + p99 * scale
    y = TOP + index * ROW_HEIGHT
    return (
        f'<line class="p99" x1="{x:.1f}" x2="{x:.1f}" y1="{y - 2}" '
        f'y2="{y + BAR_HEIGHT + 2}"><title>p99 {_number(p99)} ms</title></line>'
    )


def _scale(largest: float) -> float:
    return BARS_WIDTH / largest if largest > 0 else 0.0


def _row(
    index: int,
    number: int,
    median: float | None,
    low: float | None,
    high: float | None,
    scale: float,
    beyond: float | None = None,  # a p99 drawn on the row: the value goes right of it
) -> str:
    y = TOP + index * ROW_HEIGHT
    middle = y + BAR_HEIGHT / 2
    label = f'<text class="label" x="0" y="{middle + 6:.1f}">spec {number}</text>'
    if median is None:
        return label + (
            f'<text class="value" x="{LABEL_WIDTH}" y="{middle + 6:.1f}">measuring…</text>'
        )
    width = max(median * scale, 1)
    parts = [
        label,
        f'<rect class="bar bar-{number}" x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" '
        f'height="{BAR_HEIGHT}"><title>spec {number}: {_number(median)}</title></rect>',
    ]
    if low is not None and high is not None and high > low:
        x1, x2 = LABEL_WIDTH + low * scale, LABEL_WIDTH + high * scale
        parts.append(
            f'<path class="whisker" d="M{x1:.1f} {middle - 4:.1f}v8M{x1:.1f} {middle:.1f}'
            f'H{x2:.1f}M{x2:.1f} {middle - 4:.1f}v8"/>'
        )
    end = LABEL_WIDTH + max(width, (high or 0) * scale, (beyond or 0) * scale) + 6
    parts.append(f'<text class="value" x="{end:.1f}" y="{middle + 6:.1f}">{_number(median)}</text>')
    return "".join(parts)


def _svg(kind: str, rows: int, title: str, body: list[str]) -> str:
    height = TOP + rows * ROW_HEIGHT
    return (
        f'<svg class="tradeoff-chart tradeoff-{kind}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + "</svg>"
    )


def _number(value: float) -> str:
    return f"{value:,.0f}"
