"""The review session without QGIS: order, decisions, skip and undo, resume from stored decisions."""

from __future__ import annotations

import pytest

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.review import (
    ACCEPTED,
    EDITED,
    REJECTED,
    SKIPPED,
    Detection,
    ReviewSession,
    review_order,
)

DETECTIONS = [Detection(10, 1, 500.0, 0.9), Detection(11, 2, 2000.0, 0.53), Detection(12, 3, 100.0, 0.45),
              Detection(13, 4, 800.0, 0.75), Detection(14, 5, 50.0, None)]


def test_orders():
    assert review_order(DETECTIONS, "uncertain", 0.5) == [11, 12, 13, 10, 14]  # ties by fid; unknown last
    assert review_order(DETECTIONS, "uncertain", 0.8) == [13, 10, 11, 12, 14]
    assert review_order(DETECTIONS, "largest") == [11, 13, 10, 12, 14]
    assert review_order(DETECTIONS, "id") == [10, 11, 12, 13, 14]
    with pytest.raises(LmhldError, match="review order"):
        review_order(DETECTIONS, "random")


def test_decide_moves_on_and_counts():
    s = ReviewSession(DETECTIONS, "id")
    assert s.current == 10
    assert s.decide(ACCEPTED).fid == 10
    s.decide(REJECTED)
    s.decide(EDITED)
    assert s.current == 13
    assert s.counts() == {ACCEPTED: 1, EDITED: 1, REJECTED: 1, SKIPPED: 0, "pending": 2, "done": 3, "total": 5}
    assert s.progress_text() == "3 / 5 reviewed (1 accepted, 1 edited, 1 rejected)"
    s.decide(SKIPPED)  # not among the reviewed: "4 / 5 reviewed: ..., 1 skipped" read as five decisions for four
    assert s.progress_text() == "3 / 5 reviewed (1 accepted, 1 edited, 1 rejected); 1 skipped, to come back"


def test_skipped_ones_come_back_when_nothing_else_is_left():
    s = ReviewSession(DETECTIONS[:3], "id")
    s.decide(SKIPPED)  # 10
    s.decide(ACCEPTED)  # 11
    assert s.current == 12
    s.decide(SKIPPED)  # 12
    assert s.current == 10  # back to the first skipped one
    s.decide(SKIPPED)
    assert s.current == 12  # and round the skipped ones
    s.decide(REJECTED)
    s.decide(ACCEPTED)
    assert s.current is None and s.counts()["pending"] == 0
    with pytest.raises(LmhldError, match="nothing to decide"):
        s.decide(ACCEPTED)


def test_undo_restores_the_decision_and_the_cursor():
    s = ReviewSession(DETECTIONS, "id")
    s.decide(ACCEPTED)
    s.decide(REJECTED)
    step = s.undo()
    assert (step.fid, step.decision, step.previous) == (11, REJECTED, None)
    assert s.current == 11 and s.decision(11) is None and s.decision(10) == ACCEPTED
    s.undo()
    assert s.current == 10 and s.decisions == {}
    assert s.undo() is None


def test_undo_of_a_second_pass_restores_skipped():
    s = ReviewSession(DETECTIONS[:1], "id")
    s.decide(SKIPPED)
    s.decide(ACCEPTED)
    s.undo()
    assert s.decision(10) == SKIPPED and s.current == 10


def test_resume_from_stored_decisions():
    stored = {10: ACCEPTED, 11: REJECTED, 12: None, 13: "", 14: SKIPPED}
    s = ReviewSession(DETECTIONS, "id", decisions=stored)
    assert s.current == 12 and s.counts()["done"] == 2 and s.history == []
    with pytest.raises(LmhldError, match="unknown review state"):
        ReviewSession(DETECTIONS, "id", decisions={10: "maybe"})
