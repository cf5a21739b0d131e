"""An order's sequence (order_story.Sequence) drawn as an SVG sequence diagram: one column per
participant, one row per step, arrows between columns and notes on them.

Every colour and font comes from static/css/experiment.css through class names: the CSP allows no
inline style, and a projector and a phone then get the same picture at their own size. Pure
function of the sequence; every text is escaped.
"""

from __future__ import annotations

from html import escape

from playground.web.stories.order_sequence import Sequence, Step

LANE_WIDTH = 190
HEAD_HEIGHT = 58
ROW_HEIGHT = 40
PAD = 14
CHAR_WIDTH = 7.6  # of the 13px labels (css .story-label), to size the notes' boxes
ARROW_HEAD = 7


def render(sequence: Sequence) -> str:
    """The whole picture, as one <svg> element."""
    width = LANE_WIDTH * len(sequence.lanes)
    height = HEAD_HEIGHT + ROW_HEIGHT * len(sequence.steps) + PAD
    parts = [
        f'<svg class="order-story-picture" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="story-title" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="story-title">The story of {escape(sequence.order_id)}</title>',
    ]
    for index, lane in enumerate(sequence.lanes):
        x = _x(index)
        parts.append(
            f'<g class="story-lane lane-{lane.kind}">'
            f'<line class="lifeline" x1="{x}" y1="{HEAD_HEIGHT}" x2="{x}" y2="{height - PAD}"/>'
            f'<rect x="{x - LANE_WIDTH / 2 + 8}" y="4" width="{LANE_WIDTH - 16}" height="46" '
            'rx="8"/>'
            f'<text class="story-lane-title" x="{x}" y="23">{escape(lane.title)}</text>'
            f'<text class="story-lane-subtitle" x="{x}" y="41">{escape(lane.subtitle)}</text>'
            "</g>"
        )
    for row, step in enumerate(sequence.steps):
        y = HEAD_HEIGHT + ROW_HEIGHT * row + ROW_HEIGHT / 2 + 4
        parts.append(_note(step, y, width) if step.is_note else _arrow(step, y))
    parts.append("</svg>")
    return "".join(parts)


def _x(lane: int) -> float:
    return LANE_WIDTH * lane + LANE_WIDTH / 2


def _arrow(step: Step, y: float) -> str:
    start, end = _x(step.source), _x(step.target)
    towards = 1 if end > start else -1
    tip = end - towards * 2
    head = (
        f"{tip},{y} {tip - towards * ARROW_HEAD * 1.6},{y - ARROW_HEAD} "
        f"{tip - towards * ARROW_HEAD * 1.6},{y + ARROW_HEAD}"
    )
    return (
        f'<g class="story-step step-{step.kind}">'
        f'<line x1="{start}" y1="{y}" x2="{tip - towards * ARROW_HEAD}" y2="{y}"/>'
        f'<polygon points="{head}"/>'
        f'<text class="story-label" x="{(start + end) / 2}" y="{y - 6}">{escape(step.label)}</text>'
        "</g>"
    )


def _note(step: Step, y: float, width: int) -> str:
    box = len(step.label) * CHAR_WIDTH + 18
    left = min(max(_x(step.source) - box / 2, 2), width - box - 2)
    middle = left + box / 2
    return (
        f'<g class="story-step story-note step-{step.kind}">'
        f'<rect x="{left:.1f}" y="{y - 14}" width="{box:.1f}" height="26" rx="6"/>'
        f'<text class="story-label" x="{middle:.1f}" y="{y + 4}">{escape(step.label)}</text>'
        "</g>"
    )
