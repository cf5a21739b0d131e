"""The log strip's member lane: which group member handled each record, and the records two
members handled (a rebalance's or a zombie's second handling), in the state, the API's JSON and
the picture."""

from __future__ import annotations

import numpy as np

from playground.engine.observe.strip_state import SEVERAL_MEMBERS, PartitionStrip, StripView
from playground.web import strip as pictures


def view_of(*strips: PartitionStrip) -> StripView:
    return StripView(
        list(strips), [], hidden_unacked=False, handled=0, sessions_acked=set(), final=False
    )


def handled(strip: PartitionStrip, offsets, members) -> None:
    offsets = np.array(offsets, np.int64)
    ones = np.ones_like(offsets)
    strip.handled(offsets, ones, ones, np.array(members, np.int64))


def test_each_record_names_its_member_and_a_second_member_marks_it():
    strip = PartitionStrip(0)
    handled(strip, [0, 1, 2, 3], [0, 0, 0, 0])
    handled(strip, [2, 3, 4, 5], [1, 1, 1, 1])  # member 1 takes over from the last commit
    handled(strip, [6, 6], [1, 2])  # two members in one read: a zombie's and the owner's

    view = view_of(strip)

    assert [view.member_state(strip, o, o + 1) for o in range(7)] == [
        "0", "0", SEVERAL_MEMBERS, SEVERAL_MEMBERS, "1", "1", SEVERAL_MEMBERS,
    ]  # fmt: skip
    assert view.to_json()["partitions"][0]["handled_by_member"] == {
        "0": [[0, 2]],
        SEVERAL_MEMBERS: [[2, 4], [6, 7]],
        "1": [[4, 6]],
    }


def test_the_picture_draws_the_member_lane_only_when_another_member_handled_records():
    alone, shared = PartitionStrip(0), PartitionStrip(1)
    handled(alone, [0, 1, 2], [0, 0, 0])
    assert 'data-members="1"' not in pictures.render_input(view_of(alone))

    handled(shared, [0, 1, 1], [0, 0, 1])
    drawn = pictures.render_input(view_of(alone, shared))
    assert 'data-members="1"' in drawn
    assert f'class="{pictures.MEMBER_SEVERAL} slim"' in drawn and 'class="g-0 slim"' in drawn
    assert "the group member that handled each record" in drawn


def test_handlings_whose_member_is_not_known_leave_the_lane_alone():
    strip = PartitionStrip(0)
    handled(strip, [0, 1], [-1, -1])
    assert view_of(strip).member_state(strip, 0, 2) is None
