"""The widgets in a real browser: JupyterLab on 127.0.0.1, headless Chromium via Playwright.

One JupyterLab (pointed at the session's local Poe server) serves the whole module; the
notebook below is opened once and run with "Run All Cells", then each test clicks and types
as a person would. Screenshots land in ``test-artifacts/`` (always), plus the JupyterLab and
local-server logs when a test fails.

The server, the browser and the page helpers are ``tests/browser_kit.py``'s: without Chromium the
tests skip, unless ``POE_MAGIC_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where a missing browser is
a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import (
    ARTIFACTS,
    Frontend,
    artifacts_on_failure,
    cell,
    filter_picker,
    need_browser,
    open_browser,
    outputs,
    prompt,
    run_all,
    run_cell,
    send_from_chat,
)

from poe_magic.server.launch import LocalServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CELLS = [
    "%load_ext poe_magic\n%poe use GPT-4o-mini",  # 0: a default that is not EchoBot
    "%%poe MarkdownBot\nShow me some Markdown.",  # 1: heading + code block
    "%poe pick",  # 2: the picker
    "%%poe\nWhich bot answers a cell that names no model?",  # 3: uses the default
    "%poe chat",  # 4: the chat panel
    "import threading\nprint('kernel free, threads:', threading.active_count())",  # 5: run while chat streams
    "%%poe SlowBot-1 SlowBot-2 SlowBot-3 MarkdownBot --param chunks=38 --param delay=0.06 --param style=markdown\n"
    "Compare these models.",  # 6: side by side (lanes of 2.3 s, 3.4 s, 4.6 s, and a quick one)
    "%poe models anthropic",  # 7: prices with two "$" per row (MathJax must leave them alone)
]
COMPARED = ["SlowBot-1", "SlowBot-2", "SlowBot-3", "MarkdownBot"]


@pytest.fixture(scope="module")
def page(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The notebook open in JupyterLab with every cell run once."""
    chromium = need_browser()
    with Frontend("jupyterlab", tmp_path_factory.mktemp("lab"), server) as lab, \
            open_browser(chromium, lab, height=1400) as page:
        lab.write_notebook("widgets.ipynb", CELLS)
        with artifacts_on_failure(page, "setup"):
            page.goto(lab.page_url("widgets.ipynb"))
            run_all(page, len(CELLS))
        yield page


def test_markdown_answer_renders_heading_and_code_block(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "markdown"):
        shown = outputs(page, 1)
        expect(shown).to_have_count(2)  # the answer (one display, updated in place), then its footer
        expect(shown.first.locator("h1")).to_have_text(re.compile("A Markdown answer"))
        expect(shown.first.locator("pre").first).to_contain_text("def greet(name: str) -> str:")
        expect(shown.first.locator("table td").first).to_have_text("local")
        page.screenshot(path=str(ARTIFACTS / "browser-notebook.png"))


def test_model_table_prices_are_not_typeset_as_math(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "models"):
        table = outputs(page, 7)
        expect(table).to_contain_text("Claude-Sonnet-4")
        page.wait_for_timeout(1500)  # MathJax typesets asynchronously (it loads on first use)
        expect(table.locator("td").filter(has_text="Claude-Sonnet-4")).to_have_count(1)
        expect(table).to_contain_text("$3.00 in / $15.00 out per M tokens")
        expect(table.locator("mjx-container, .MathJax")).to_have_count(0)
        table.screenshot(path=str(ARTIFACTS / "browser-models.png"))


def test_picker_choice_is_used_by_the_next_cell(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "picker"):
        # before the choice (this test is the one that changes it): cell 3 was answered by cell 0's default
        expect(outputs(page, 3).last).to_contain_text("GPT-4o-mini")  # the footer names the model
        picker = cell(page, 2).locator(".poe-model-picker")
        expect(picker.locator(".poe-picker-status")).to_contain_text("GPT-4o-mini")
        listing = filter_picker(picker, "echo")
        expect(listing.filter(has_not_text=re.compile("echo", re.IGNORECASE))).to_have_count(0)
        echo = listing.filter(has_text=re.compile(r"^EchoBot\s·"))  # ipywidgets writes labels with &nbsp;
        expect(echo).to_have_count(1)
        echo.click()
        expect(picker.locator(".poe-picker-status")).to_contain_text("Default model: EchoBot")
        picker.screenshot(path=str(ARTIFACTS / "browser-picker.png"))

        run_cell(page, 3)
        answer = outputs(page, 3).first
        expect(answer).to_contain_text("EchoBot received 1 message(s)")
        expect(answer).to_contain_text("Which bot answers a cell that names no model?")
        expect(answer.locator("h3")).to_have_text(re.compile("EchoBot received"))


def test_chat_streams_markdown_stops_and_leaves_the_kernel_free(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "chat"):
        panel = cell(page, 4).locator(".poe-chat")
        answers = panel.locator(".poe-chat-answer")
        send, stop = panel.get_by_role("button", name="Send"), panel.get_by_role("button", name="Stop")

        # 1. a Markdown answer from EchoBot
        send_from_chat(panel, "EchoBot", "hello from the browser")
        expect(answers).to_have_count(1)
        expect(answers.nth(0).locator("h3")).to_have_text(re.compile(r"EchoBot received 1 message\(s\)"))
        expect(answers.nth(0)).to_contain_text("hello from the browser")
        expect(panel.locator(".poe-chat-status")).to_contain_text("points spent")

        # 2. a long answer: watch it stream, run a cell meanwhile, then Stop it
        send_from_chat(panel, "SlowBot", "chunks=2000 delay=0.05")  # 100 s: stopped long before
        expect(answers).to_have_count(2)
        streaming = answers.nth(1)
        expect(streaming).to_contain_text("word5")
        expect(streaming).to_contain_text("streaming…")  # partial text shown while it streams
        expect(stop).to_be_enabled()
        run_cell(page, 5)  # the kernel answers while the chat streams
        expect(outputs(page, 5)).to_contain_text("kernel free")
        expect(streaming).to_contain_text("streaming…")
        panel.screenshot(path=str(ARTIFACTS / "browser-chat-streaming.png"))
        stop.click()
        expect(streaming).to_contain_text("interrupted, partial answer kept")
        expect(send).to_be_enabled()
        expect(stop).to_be_disabled()
        assert "word1999" not in streaming.inner_text()

        # 3. the conversation continues with its history, and a system prompt from the collapsed field
        panel.get_by_text("System prompt (none)").click()  # unfold it
        panel.locator(".poe-chat-system textarea").fill("Be brief")
        send_from_chat(panel, "EchoBot", "what came before?")
        expect(panel.get_by_text("System prompt: Be brief")).to_be_visible()
        expect(answers).to_have_count(3)
        expect(answers.nth(2).locator("h3")).to_have_text(re.compile(r"EchoBot received 5 message\(s\)"))
        expect(answers.nth(2)).to_contain_text("system: Be brief")
        expect(answers.nth(2)).to_contain_text("last message: what came before?")  # every keystroke arrived
        expect(panel.locator(".poe-chat-prompt textarea")).to_have_value("")  # cleared for the next one
        # the conversation scrolls inside the panel, pinned to the newest answer
        scroller = panel.locator(".poe-chat-scroll")
        expect(answers.nth(2)).to_contain_text("EchoBot ·")  # its footer: finished, full height
        sizes = scroller.evaluate("e => [e.scrollHeight, e.clientHeight, e.getBoundingClientRect().bottom]")
        assert sizes[0] > sizes[1] > 0, sizes  # taller than the panel shows: a scroll bar
        newest = answers.nth(2).bounding_box()
        assert newest is not None and newest["y"] + newest["height"] <= sizes[2] + 1, (newest, sizes)
        panel.scroll_into_view_if_needed()
        panel.screenshot(path=str(ARTIFACTS / "browser-chat.png"))


def test_comparison_streams_side_by_side_and_ends_static(page: Any) -> None:
    from playwright.sync_api import expect

    with artifacts_on_failure(page, "compare"):
        shown = outputs(page, 6)
        columns = shown.locator(".poe-compare > div:last-child > div")
        status = shown.locator(".poe-compare b + span")
        # live: re-run the cell and watch the columns fill in while the lanes stream
        prompt(page, 6).click()
        page.keyboard.press("Shift+Enter")
        expect(status.filter(has_text=re.compile(r"streaming… [\d,]+ chars"))).not_to_have_count(0)
        expect(shown).to_have_count(1)  # one display, updated in place
        expect(columns).to_have_count(len(COMPARED))
        assert_not_clipped(status)  # "streaming… 1,234 chars" wraps under the name when narrow
        cell(page, 6).screenshot(path=str(ARTIFACTS / "browser-compare-streaming.png"))
        expect(prompt(page, 6)).to_have_text(re.compile(r"\[\d+\]:"))
        # static: every column finished, rendered Markdown in the columns, the summary table below
        expect(shown).to_have_count(2)  # the grid, then the summary table as its own output (issue 26)
        expect(shown.locator(".poe-compare b")).to_have_text(COMPARED)
        expect(status).to_have_text([re.compile(r"^✓ \d+\.\d\d s$")] * len(COMPARED))
        for i in range(len(COMPARED)):
            expect(columns.nth(i).locator("h1")).to_have_text("A Markdown answer")
            expect(columns.nth(i).locator("pre")).to_contain_text("def greet(name: str) -> str:")
        # narrow columns: headings sized for a column, code scrolls sideways, headers not clipped
        page_h1 = outputs(page, 1).locator("h1").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        column_h1 = columns.nth(0).locator("h1").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert column_h1 < 0.8 * page_h1, (column_h1, page_h1)
        code = columns.nth(0).locator("pre").evaluate(
            "e => [getComputedStyle(e).whiteSpace, getComputedStyle(e).overflowX]")
        assert code == ["pre", "auto"], code
        assert_not_clipped(status)
        summary = shown.last  # the summary table: its own output under the grid (issue 26)
        expect(summary.locator("table tbody tr")).to_have_count(len(COMPARED))
        expect(summary.locator("table th")).to_contain_text(["model", "status", "first token", "total"])
        # side by side: columns of a row share their top edge, none overlaps, none is squeezed
        boxes = [columns.nth(i).bounding_box() for i in range(len(COMPARED))]
        assert all(b is not None and b["width"] >= 219 for b in boxes), boxes
        first_row = [b for b in boxes if abs(b["y"] - boxes[0]["y"]) < 1]
        assert len(first_row) >= 2, boxes
        assert all(a["x"] + a["width"] <= b["x"] for a, b in zip(first_row, first_row[1:])), boxes
        cell(page, 6).screenshot(path=str(ARTIFACTS / "browser-compare.png"))


def assert_not_clipped(status: Any) -> None:
    """No column header's status text reaches past its column's right edge."""
    overflow = status.evaluate_all("spans => spans.map(e => e.getBoundingClientRect().right - "
                                   "e.closest('.poe-compare > div:last-child > div').getBoundingClientRect().right)")
    assert overflow and max(overflow) <= 0.5, overflow
