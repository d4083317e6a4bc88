"""What the waiting page says about an opening: the pre-queue, the time it opens, the refresh without JavaScript."""

from __future__ import annotations

from core.model import AdmissionPolicy, Queueing
from core.opening import Opening, OpeningState
from oidc_adaptor.oidc.waiting import MAX_REFRESH_SECONDS, MIN_REFRESH_SECONDS, line_state, refresh_seconds

NOW = 1_800_000_000.0
POLICY = AdmissionPolicy()


def opening(queueing: Queueing, state: OpeningState, opens_at: float | None = NOW + 600) -> Opening:
    return Opening("e", queueing, opens_at, state)


def test_a_random_event_before_its_draw_is_a_pre_queue_with_the_time_left() -> None:
    line = line_state(POLICY, False, NOW, opening(Queueing.RANDOM_BEFORE_OPENING, OpeningState.PRE_QUEUE))
    assert line.pre_queue and line.opens_at == NOW + 600 and line.minutes_left == 10 and not line.moving
    assert line.opens_iso == "2027-01-15T08:10:00Z" and line.opens_text == "2027-01-15 08:10 UTC"
    # the time passed a moment ago but the draw is not read yet: still the pre-queue, nothing left
    late = line_state(POLICY, False, NOW + 601, opening(Queueing.RANDOM_BEFORE_OPENING, OpeningState.PRE_QUEUE))
    assert late.pre_queue and late.opens_at == NOW + 600 and late.minutes_left == 0


def test_a_fifo_opening_holds_the_line_but_keeps_positions() -> None:
    line = line_state(POLICY, False, NOW, opening(Queueing.FIFO, OpeningState.PRE_QUEUE))
    assert not line.pre_queue and line.opens_at == NOW + 600 and not line.moving


def test_after_the_opening_the_line_moves_and_the_later_of_two_openings_counts() -> None:
    assert line_state(POLICY, False, NOW, opening(Queueing.RANDOM_BEFORE_OPENING, OpeningState.OPEN)).moving
    window = AdmissionPolicy(start_at=NOW + 900)
    line = line_state(window, False, NOW, opening(Queueing.FIFO, OpeningState.PRE_QUEUE))
    assert line.opens_at == NOW + 900 and line.minutes_left == 15


def test_without_javascript_a_pre_queue_page_comes_back_just_after_the_opening() -> None:
    line = line_state(POLICY, False, NOW, opening(Queueing.RANDOM_BEFORE_OPENING, OpeningState.PRE_QUEUE))
    assert refresh_seconds(line, NOW, 900, grace=2) == MAX_REFRESH_SECONDS  # far: the usual pace
    assert refresh_seconds(line, NOW + 580, 900, grace=2) == 23  # 20 s, the 2 s skew allowance, 1 s more
    assert refresh_seconds(line, NOW + 610, 900, grace=2) == MIN_REFRESH_SECONDS  # past: soon again
    moving = line_state(POLICY, False, NOW, None)
    assert refresh_seconds(moving, NOW, 900) == 120 and refresh_seconds(moving, NOW, 30) == 10
