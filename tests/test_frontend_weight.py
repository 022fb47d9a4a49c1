"""Issue 26 row 1: once an answer (or a comparison) ended, the cost found later updates its
footer (the comparison's summary table) alone: the answer is never sent again. Read with a raw
iopub listener that keeps reading after the cell went idle, on a server whose history lists a
call only after LAG seconds (as the real one does), so the cost is always found late."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Kernel, loaded_kernel
from iopub import display_id, late_messages, shares_text, size

from poe_magic.server.launch import LocalServer, local_server

LAG = 2.0
pytestmark = [pytest.mark.kernel, pytest.mark.http]


@pytest.fixture(scope="module")
def lag_server() -> Iterator[LocalServer]:
    with local_server(args=["--history-lag", str(LAG), "--history-entries", "30"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def lk(lag_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    with loaded_kernel(lag_server, tmp_path_factory.mktemp("weight_home"), "%load_ext poe_magic") as kernel:
        yield kernel


def priced(msgs: list[dict]) -> bool:
    """Some message shows a known cost in its metadata."""
    def points(m: dict) -> object:
        meta = m["content"].get("metadata", {}).get("poe_magic", {})
        return meta.get("points") if "model" in meta else next(
            (e.get("points") for e in meta.get("models", meta.get("replies", [])) if isinstance(e, dict)), None)
    return any(points(m) is not None for m in msgs)


def test_a_late_cost_updates_the_footer_alone(lk: Kernel) -> None:
    result = lk.run_ok("%%poe LongBot -o weighed\nkb=5 seconds=0.5")
    answer = lk.value("weighed.text")
    assert len(answer) > 4000
    shown = [display_id(m) for m in result.of_type("display_data")]
    footer_id = shown[-1]  # the footer: the cell's last output, carrying the metadata
    footer = [m for m in result.messages if display_id(m) == footer_id][-1]["content"]
    assert footer["metadata"]["poe_magic"]["model"] == "LongBot"
    assert footer["metadata"]["poe_magic"]["points"] is None and set(footer["data"]) == {"text/markdown"}
    assert "LongBot ·" in footer["data"]["text/markdown"]
    late = late_messages(lk, priced, timeout=LAG + 20)
    assert priced(late), "the cost found after the cell never reached the frontend"
    assert {display_id(m) for m in late} == {footer_id}  # only the footer, updated in place
    assert all(m["header"]["msg_type"] == "update_display_data" for m in late)
    assert all(size(m) < 1500 for m in late), [size(m) for m in late]
    assert not [m for m in late if shares_text(m, answer)]  # no piece of the answer
    assert "points" in late[-1]["content"]["data"]["text/markdown"]
    assert lk.value("weighed.points") == late[-1]["content"]["metadata"]["poe_magic"]["points"]


def test_a_late_cost_updates_the_comparison_summary_alone(lk: Kernel) -> None:
    result = lk.run_ok("%%poe LongBot LongBot-B -o weighed_cmp\nkb=3 seconds=0.5")
    answers = lk.value("[r.text for r in weighed_cmp.replies.values()]")
    grid_id, table_id = [display_id(m) for m in result.of_type("display_data")][-2:]
    table = [m for m in result.messages if display_id(m) == table_id][-1]["content"]
    assert table["data"]["text/html"].startswith("<table") and "poe_magic" in table["metadata"]
    assert ">points</th>" not in table["data"]["text/html"]  # not known yet
    late = late_messages(lk, lambda ms: bool(ms) and ">points</th>" in ms[-1]["content"]["data"]["text/html"]
                         and "–" not in ms[-1]["content"]["data"]["text/html"].split(">points</th>")[1],
                         timeout=LAG + 20)
    assert late, "the costs found after the cell never reached the frontend"
    assert {display_id(m) for m in late} == {table_id}  # the grid (the answers) is never re-sent
    assert all(size(m) < 3000 for m in late), [size(m) for m in late]
    assert not [m for m in late for text in answers if shares_text(m, text)]
    assert lk.value("[r.points is not None for r in weighed_cmp.replies.values()]") == [True, True]
    assert grid_id != table_id


WARMED = ("[m in __import__('sys').modules for m in ('fastapi_poe', 'httpx', 'anyio._backends._asyncio')] + "
          "[__import__('poe_magic.wire.loop', fromlist=['x']).shared_loop().running] + "
          "[not [t for t in __import__('threading').enumerate() if t.name == 'poe_magic-warm-up']]")


def test_load_ext_warms_up_in_the_background(fresh_kernel: Kernel) -> None:
    """Issue 26 row 3: ``%load_ext`` returns without fastapi_poe; a background thread then
    imports it and httpx and starts the loop thread, so the first call finds them ready (the
    time it saves: ``python -m benchmarks first_call``). No call is made here."""
    fresh_kernel.run_ok("import sys\n_before = 'fastapi_poe' in sys.modules\n%load_ext poe_magic")
    assert fresh_kernel.value("_before") is False
    fresh_kernel.run_ok(f"import time\nfor _ in range(300):\n    if all({WARMED}):\n        break\n    time.sleep(0.1)")
    assert fresh_kernel.value(WARMED) == [True] * 5  # ready, and the warm-up thread has ended
    assert "EchoBot" in fresh_kernel.run_ok("%%poe EchoBot\nready?").markdown()[0]


def test_the_warm_up_can_be_turned_off(server: LocalServer, tmp_path: Path) -> None:
    k = Kernel(env={**server.env, "POE_MAGIC_HOME": str(tmp_path / "home"), "POE_MAGIC_WARM_UP": "0"})
    try:
        k.run_ok("%load_ext poe_magic\nimport time\ntime.sleep(1.5)")
        assert k.value("'fastapi_poe' in __import__('sys').modules") is False
        assert k.value("__import__('poe_magic.wire.loop', fromlist=['x']).shared_loop().running") is False
    finally:
        k.shutdown()


# -- issue 26 row 2: the shape of the traffic while an answer streams ----------------------------

KINDS = ("display_data", "update_display_data", "stream", "execute_result")


def answer_messages(result: object) -> tuple[list[dict], list[str]]:
    """The answer's display messages (the footer's aside) and its outputs' display ids, in order."""
    messages = result.of_type("display_data", "update_display_data")  # type: ignore[attr-defined]
    ids = list(dict.fromkeys(display_id(m) for m in messages))[:-1]  # the last output is the footer
    return [m for m in messages if display_id(m) in ids], ids


def test_a_long_answer_sends_each_frozen_part_once_and_no_plain_copy(lk: Kernel) -> None:
    result = lk.run_ok("%%poe LongBot -o shaped\nkb=20 seconds=4", timeout=120)
    answer = lk.value("shaped.text")
    messages, ids = answer_messages(result)
    assert len(ids) > 3  # frozen parts, then the tail
    assert all(set(m["content"]["data"]) == {"text/markdown"} for m in messages)  # no text/plain copy
    assert all(not m["content"]["metadata"] for m in messages)  # the metadata is the footer's
    final = {display_id(m): m["content"]["data"]["text/markdown"] for m in messages}
    assert "".join(final[i] for i in ids) == answer  # the outputs read as the answer, in order
    # a frozen part (every output but the tail) is sent once, never again, not at the end either
    for i in ids[:-1]:
        last = max(n for n, m in enumerate(messages) if display_id(m) == i)
        sent = [m for m in messages if display_id(m) == i and m["content"]["data"]["text/markdown"] == final[i]]
        assert len(sent) == 1 and all(display_id(m) != i for m in messages[last + 1:])
    # so the answer's characters went out as frozen parts once, plus the tail's re-sends
    frozen = sum(len(final[i]) for i in ids[:-1])
    assert frozen > len(answer) / 2
    assert messages[-1]["content"]["data"]["text/markdown"] == answer[frozen:]  # the final message: the tail alone


def _output_bytes(result: object) -> tuple[int, int]:
    messages = result.of_type(*KINDS)  # type: ignore[attr-defined]
    return sum(size(m) for m in messages), len(messages)


def test_a_short_answer_weighs_about_a_print_of_it(lk: Kernel) -> None:
    """A short answer: its output and the footer's, two messages, against a plain ``print`` of
    the same text measured in the same kernel (a ratio, not a timing). Within 2x of it but for
    the provenance metadata the saved notebook keeps (``metadata["poe_magic"]``, ~400 bytes)."""
    lk.run_ok("%%poe EchoBot -o brief\nhello there")  # (warm)
    result = lk.run_ok("%%poe EchoBot -o brief\nhello there")
    ours, count = _output_bytes(result)
    printed, _ = _output_bytes(lk.run_ok(f"print({lk.value('brief.text')!r})"))
    assert count == 2, [m["header"]["msg_type"] for m in result.of_type(*KINDS)]  # no live update, no re-send
    metadata = sum(len(json.dumps(m["content"]["metadata"])) for m in result.of_type(*KINDS))
    assert ours - metadata <= 2 * printed, (ours, metadata, printed)
