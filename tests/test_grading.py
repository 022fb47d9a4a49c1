"""Grading and the leaderboard: a judge bot (JudgeBot: score = the answer's word count within
the scale) over a known set, so every number is known in advance; compare(judge=...) and
%%poe A B --judge in a real kernel. Real HTTP to the local server."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
from harness import Kernel
from protocols import both_protocols

import poe_magic
from poe_magic.base import errors as E
from poe_magic.server.launch import LocalServer

matplotlib.use("Agg")

# Two models, three prompts; answers of known lengths (JudgeBot scores their word counts).
KNOWN = pd.DataFrame({
    "row": [0, 0, 1, 1, 2, 2],
    "model": ["Alpha", "Beta"] * 3,
    "prompt": ["p0", "p0", "p1", "p1", "p2", "p2"],
    "answer": ["one two three", "one", "a b c d e f g h i j k l", "x y", "same same", "tie tie"],
    "error": [None, None, None, None, None, "ServerError: down"],
    "points": [10, 30, 10, 30, 10, 30],
    "elapsed": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
})


@both_protocols
def test_grade_scores_each_answer_and_keeps_the_frame(activated: LocalServer) -> None:
    graded = poe_magic.grade(KNOWN, judge="JudgeBot", rubric="length", progress=False)
    assert list(graded.columns[:7]) == list(KNOWN.columns)
    assert list(graded["score"]) == [3, 1, 10, 2, 2, pd.NA]  # 12 words clipped to 10; the failed row not sent
    assert str(graded["score"].dtype) == "Int64" and str(graded["reason"].dtype) == "string"
    assert list(graded["reason"][:5]) == ["3 words", "1 words", "12 words", "2 words", "2 words"]
    assert list(graded["judge_points"][:5]) == [10] * 5 and graded["judge_points"].isna().iloc[5]


def test_leaderboard_numbers_on_the_known_set(activated: LocalServer) -> None:
    graded = poe_magic.grade(KNOWN, judge="JudgeBot", rubric="length", scale=(1, 10), progress=False)
    board = poe_magic.leaderboard(graded)
    assert list(board["model"]) == ["Alpha", "Beta"]
    alpha, beta = board.iloc[0], board.iloc[1]
    assert alpha["answers"] == 3 and alpha["mean_score"] == pytest.approx(5.0) and alpha["median_score"] == 3
    assert beta["answers"] == 2 and beta["mean_score"] == pytest.approx(1.5)
    assert alpha["win_rate"] == 1.0 and beta["win_rate"] == 0.0  # p2: Beta failed, so no pair there
    assert (alpha["points"], beta["points"]) == (30, 90)
    assert (alpha["points_per_answer"], beta["points_per_answer"]) == (10.0, 30.0)
    assert (alpha["median_elapsed"], beta["median_elapsed"]) == (3.0, 4.0)
    ax = board.plot()
    assert ax.get_xlabel() == "points per answer" and [t.get_text() for t in ax.texts] == ["Alpha", "Beta"]


def test_ties_count_half(activated: LocalServer) -> None:
    tied = KNOWN.iloc[4:6].assign(error=[None, None])
    board = poe_magic.leaderboard(poe_magic.grade(tied, judge="JudgeBot", rubric="x", progress=False))
    assert list(board["win_rate"]) == [0.5, 0.5]


def test_grading_resumes_from_the_journal(activated: LocalServer) -> None:
    poe_magic.grade(KNOWN, judge="JudgeBot", rubric="resume", progress=False)
    before = len(poe_magic.log(kind="grade", limit=10_000))
    again = poe_magic.grade(KNOWN, judge="JudgeBot", rubric="resume", progress=False)
    assert len(poe_magic.log(kind="grade", limit=10_000)) == before  # nothing sent again
    assert list(again["score"][:5]) == [3, 1, 10, 2, 2]


@both_protocols
def test_grade_a_comparison_and_compare_with_a_judge(activated: LocalServer) -> None:
    comparison = poe_magic.compare("two words", ["JsonBot", "EchoBot"], stream=False,
                                   judge="JudgeBot", rubric="length")
    frame = comparison.to_frame()
    assert list(frame["score"]) == [comparison.grades["JsonBot"]["score"], comparison.grades["EchoBot"]["score"]]
    words = len(comparison["JsonBot"].text.split())
    assert frame["score"].iloc[0] == min(10, max(1, words)) and frame["reason"].iloc[0] == f"{words} words"
    board = poe_magic.leaderboard(comparison)
    assert set(board["model"]) == {"JsonBot", "EchoBot"}


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"judge": None, "rubric": "x"}, "judge=MODEL"),
    ({"judge": "JudgeBot", "rubric": "  "}, "rubric=TEXT"),
    ({"judge": "JudgeBot", "rubric": "x", "scale": (5, 1)}, "low < high"),
    ({"judge": "JudgeBot", "rubric": "x", "scale": (1.5, 3)}, "whole numbers"),
])
def test_bad_grading_input_is_one_line(activated: LocalServer, kwargs: dict, needle: str) -> None:
    with pytest.raises(E.PoeUsageError) as caught:
        poe_magic.grade(KNOWN, **kwargs)
    assert needle in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(E.PoeUsageError):
        poe_magic.grade(pd.DataFrame({"x": [1]}), judge="JudgeBot", rubric="x")
    with pytest.raises(E.PoeUsageError):
        poe_magic.leaderboard(KNOWN)  # not graded


def test_magic_judge_adds_score_and_reason(kernel: Kernel) -> None:
    result = kernel.run_ok('%%poe JsonBot EchoBot --judge JudgeBot --rubric "length"\nthree words here')
    shown = [m["content"]["data"].get("text/html", "") for m in result.of_type("display_data")]
    table = next(h for h in shown if "reason" in h and "score" in h)
    assert "words" in table and "JsonBot" in table
    assert kernel.value("sorted(_poe.grades)") == ["EchoBot", "JsonBot"]
    # the comparison's own summary table (its own output below the grid, updated in place) gains them too
    grid = [m["content"]["data"].get("text/html", "") for m in result.of_type("update_display_data")]
    assert any("<th" in h and ">score</th>" in h and ">reason</th>" in h and "JsonBot" in h for h in grid)
    result = kernel.run("%%poe JsonBot EchoBot --judge JudgeBot\nq")
    assert result.error is not None and result.error["ename"] == "PoeUsageError"
    assert len(result.error["traceback"]) == 1 and "--rubric" in result.error["traceback"][0]
