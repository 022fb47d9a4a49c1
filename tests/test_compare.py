"""Side-by-side comparison: real kernels, real HTTP to the local server, the persisted notebook."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from harness import Kernel, notebook_client
from protocols import both_protocols

from poe_magic.comparison import view as compare_view
from poe_magic.core import markdown_html
from poe_magic.server.launch import LocalServer

WORDS4 = "word0 word1 word2 word3"


def one_line_error(result: Any, name: str) -> str:
    assert result.error is not None, "the cell should have failed"
    assert result.error["ename"] == name, result.error
    assert len(result.error["traceback"]) == 1, result.error["traceback"]
    return result.error["traceback"][0]


def column_states(html: str) -> dict[str, str]:
    """model -> the status text in its column header."""
    return dict(re.findall(r"<b>([^<]+)</b><span[^>]*>([^<]*)</span>", html))


def column_bodies(html: str) -> dict[str, str]:
    """model -> everything from its header to the next column (its answer and error line)."""
    names = re.findall(r"<b>([^<]+)</b><span", html)
    parts = re.split(r"<b>[^<]+</b><span", html)[1:]
    return dict(zip(names, parts))


def final_html(result: Any) -> str:
    """The grid (one display, updated in place, static at the end) and its summary table (its
    own display below, the only one a late cost updates), as one HTML text."""
    (grid, table) = result.displays().values()
    assert "first token</th>" not in grid["text/html"] and table["text/html"].startswith("<table")
    return grid["text/html"] + table["text/html"]


# -- kernel tests ------------------------------------------------------------------------------

def test_models_stream_concurrently_side_by_side(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    # three paced bots of different speeds: lane k waits k times as long per word (spread=1)
    result = kernel.run_ok("%%poe SlowBot-1 SlowBot-2 SlowBot-3 -o cmp --param chunks=4 --param delay=0.1 "
                           "--param spread=1\nrace")
    arrivals = sorted(r["time"] for r in server.requests("/bot/"))
    assert len(arrivals) == 3
    done = kernel.value("[[r.model, r.started_at.timestamp(), r.elapsed, r.text, r.status] for r in cmp]")
    assert [d[0] for d in done] == ["SlowBot-1", "SlowBot-2", "SlowBot-3"]
    assert all(d[3] == WORDS4 + " " and d[4] == "ok" for d in done)
    # Overlap, from the server's own clock: every request arrived before the first answer ended
    # (a bot is charged when its stream ends), so all three streamed at the same time; one after
    # another, the first would have ended before the next arrived. The kernel's timings agree.
    history = server._call("GET", "/usage/points_history?limit=3")["data"]
    assert sorted(e["bot_name"] for e in history) == ["SlowBot-1", "SlowBot-2", "SlowBot-3"]
    first_end = min(e["creation_time"] for e in history) / 1e6
    assert arrivals[-1] < first_end, (arrivals, first_end)
    assert max(started for _, started, _, _, _ in done) < min(started + elapsed for _, started, elapsed, _, _ in done)
    # The live view showed the columns side by side while they streamed: some update had the
    # fastest model finished while the slowest was still going.
    updates = [m["content"]["data"]["text/html"] for m in result.of_type("update_display_data")]
    states = [column_states(u) for u in updates]
    assert any(s.get("SlowBot-1", "").startswith("✓") and not s.get("SlowBot-3", "").startswith("✓")
               for s in states), states
    # one grid display, static at the end: every answer, its status; then the summary table
    html = final_html(result)
    bodies = column_bodies(html)
    assert list(bodies) == ["SlowBot-1", "SlowBot-2", "SlowBot-3"]
    assert all(WORDS4 in body for body in bodies.values())
    assert all(state.startswith("✓") for state in column_states(html).values())
    assert "<table" in html and "first token" in html and "<script" not in html
    assert "grid-template-columns" in html
    assert kernel.value("cmp is _poe and __import__('poe_magic').last_comparison() is cmp")


def test_a_failing_model_does_not_stop_the_others(kernel: Kernel) -> None:
    result = kernel.run_ok("%%poe SlowBot-1 FailingBot SlowBot-2 --param chunks=4 --param delay=0.05\nboom")
    bodies = column_bodies(final_html(result))
    assert WORDS4 in bodies["SlowBot-1"] and WORDS4 in bodies["SlowBot-2"]
    assert "partial0" in bodies["FailingBot"], "the failing model's partial answer is kept"
    error_lines = re.findall(r"⚠ ServerError: [^<]*", bodies["FailingBot"])
    assert len(error_lines) == 1 and "simulated failure" in error_lines[0]
    assert "ServerError" not in bodies["SlowBot-1"] + bodies["SlowBot-2"]
    assert kernel.value("{m: r.status for m, r in _poe.replies.items()}") == {
        "SlowBot-1": "ok", "FailingBot": "error", "SlowBot-2": "ok"}


def test_every_model_failing_is_one_line_error(kernel: Kernel, server: LocalServer) -> None:
    server.fail_next("/bot/EchoBot", 403)
    server.fail_next("/bot/MarkdownBot", 403)
    result = kernel.run("%%poe EchoBot MarkdownBot\nhi")
    one_line_error(result, "ForbiddenError")
    assert final_html(result).count("⚠ ForbiddenError") == 2  # each column says why
    assert kernel.value("[r.status for r in _poe]") == ["error", "error"]


def test_to_frame_has_one_row_per_model_with_documented_dtypes(kernel: Kernel) -> None:
    kernel.run_ok("%%poe EchoBot MarkdownBot FailingBot -o cmp\nsummarise")
    frame = kernel.value("{'columns': list(cmp.to_frame().columns), "
                         "'dtypes': [str(t) for t in cmp.to_frame().dtypes], "
                         "'rows': cmp.to_frame().astype(object).where(cmp.to_frame().notna(), None)"
                         ".to_dict('records'), 'texts': {m: len(r.text) for m, r in cmp.replies.items()}}")
    assert frame["columns"] == ["model", "status", "time_to_first_token", "elapsed", "chars", "tokens",
                                "points", "error"]
    assert frame["dtypes"] == ["string", "string", "float64", "float64", "Int64", "Int64", "Int64", "string"]
    rows = {r["model"]: r for r in frame["rows"]}
    assert list(rows) == ["EchoBot", "MarkdownBot", "FailingBot"]
    for model, row in rows.items():
        assert row["chars"] == frame["texts"][model]
        assert row["elapsed"] > 0 and row["time_to_first_token"] > 0
    assert rows["MarkdownBot"]["status"] == "ok" and rows["MarkdownBot"]["error"] is None
    assert rows["FailingBot"]["status"] == "error" and "ServerError" in rows["FailingBot"]["error"]


def test_cache_answers_known_models_without_a_request_and_stores_fresh_ones(kernel: Kernel,
                                                                             server: LocalServer) -> None:
    import uuid

    prompt = f"cache me {uuid.uuid4().hex}"  # never asked before, in any test
    server.reset()
    kernel.run_ok(f"%%poe EchoBot GPT-4o-mini --cache -o first\n{prompt}")
    assert len(server.requests("/bot/")) == 2
    assert kernel.value("[r.cached for r in first]") == [False, False]
    # found after the cell, by the reconciler (this call's own cost: an earlier test's call may never be
    # listed again, since server.reset() forgets the history)
    kernel.run_ok("import time\nfor _ in range(300):\n    if first['GPT-4o-mini'].points is not None:\n"
                  "        break\n    time.sleep(0.1)")
    assert kernel.value("first['GPT-4o-mini'].points") > 0

    server.reset()
    again = kernel.run_ok(f"%%poe EchoBot GPT-4o-mini --cache -o second\n{prompt}")
    assert server.requests("/bot/") == [], "both answers come from the cache"
    assert kernel.value("[(r.cached, r.points, r.text == first[r.model].text) for r in second]") == [
        [True, 0, True], [True, 0, True]]
    html = final_html(again)
    assert column_states(html) == {"EchoBot": "✓ from cache · 0 points", "GPT-4o-mini": "✓ from cache · 0 points"}
    assert html.count("ok (from cache)") == 2  # the summary table marks them
    assert kernel.value("second.to_frame()['points'].tolist()") == [0, 0]

    server.reset()  # one model cached, one new: only the new one is asked, then stored
    mixed = kernel.run_ok(f"%%poe EchoBot MarkdownBot --cache -o third\n{prompt}")
    assert [r["path"] for r in server.requests("/bot/")] == ["/bot/MarkdownBot"]
    assert column_states(final_html(mixed))["EchoBot"] == "✓ from cache · 0 points"
    assert kernel.value("[r.cached for r in third]") == [True, False]
    kernel.run_ok(f"%%poe MarkdownBot EchoBot --cache\n{prompt}")
    assert len(server.requests("/bot/")) == 1, "MarkdownBot's answer was stored by the comparison"

    server.reset()  # without --cache (and PoeMagics.cache off) every model is asked
    kernel.run_ok(f"%%poe EchoBot GPT-4o-mini\n{prompt}")
    assert len(server.requests("/bot/")) == 2
    error = one_line_error(kernel.run(f"%%poe EchoBot GPT-4o-mini --cache --runs 2\n{prompt}"), "PoeUsageError")
    assert "--cache does not apply with --runs" in error
    assert "cannot be combined with a comparison" in one_line_error(
        kernel.run(f"%%poe EchoBot GPT-4o-mini --chat\n{prompt}"), "PoeUsageError")
    assert len(server.requests("/bot/")) == 2, "refused comparisons send nothing"


def test_duplicate_and_unknown_names_are_one_line_errors_and_send_nothing(kernel: Kernel,
                                                                          server: LocalServer) -> None:
    server.reset()
    assert "named twice" in one_line_error(kernel.run("%%poe SlowBot-1 EchoBot SlowBot-1\nhi"), "PoeUsageError")
    assert "named twice" in one_line_error(kernel.run("%%poe slowbot-1 SlowBot-1\nhi"), "PoeUsageError")
    unknown = kernel.run("%%poe EchoBot NoSuchModel-xyz\nhi")
    assert unknown.error is not None and len(unknown.error["traceback"]) == 1
    assert "NoSuchModel-xyz" in unknown.error["traceback"][0]
    assert "--runs" in one_line_error(kernel.run("%%poe EchoBot MarkdownBot --runs 0\nhi"), "PoeUsageError")
    assert "markdown or text" in one_line_error(kernel.run("%%poe EchoBot MarkdownBot -f code\nhi"), "PoeUsageError")
    assert server.requests("/bot/") == []


def test_variables_and_attachments_reach_every_model(kernel: Kernel, server: LocalServer, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("owls hunt at night")
    server.reset()
    kernel.run_ok("topic = 'owls'")
    kernel.run_ok(f"%%poe EchoBot FileReaderBot -s 'Answer about {{topic}}' --attach {note}\nTell me about {{topic}}")
    echo, reader = kernel.value("[_poe['EchoBot'].text, _poe['FileReaderBot'].text]")
    assert "**system**: Answer about owls" in echo and "**last message**: Tell me about owls" in echo
    assert '"name": "note.txt"' in echo, "EchoBot received the attachment"
    assert "**note.txt** (text/plain, 18 bytes)" in reader and "owls hunt at night" in reader
    uploads = [r for r in server.requests() if not r["path"].startswith("/bot/") and r["method"] == "POST"]
    assert len(uploads) == 1, f"one upload shared by both models: {uploads}"
    assert "--chat" in one_line_error(kernel.run("%%poe EchoBot MarkdownBot --chat\nhi"), "PoeUsageError")


def test_compare_flag_uses_the_comparison_set(kernel: Kernel) -> None:
    kernel.run_ok("import poe_magic; poe_magic.settings.compare_models = []")
    assert "no models to compare" in one_line_error(kernel.run("%%poe --compare\nhi"), "PoeUsageError")
    kernel.run_ok("poe_magic.settings.compare_models = ['EchoBot', 'MarkdownBot']")
    try:
        html = final_html(kernel.run_ok("%%poe --compare\nfrom the set"))
        kernel.run_ok("%poe use SlowBot-2 EchoBot")  # the way users set it
        used = final_html(kernel.run_ok("%%poe --compare --param chunks=1\nfrom use"))
    finally:
        kernel.run_ok("poe_magic.settings.compare_models = []")
    assert list(column_bodies(html)) == ["EchoBot", "MarkdownBot"]
    assert "from the set" in column_bodies(html)["EchoBot"]
    assert list(column_bodies(used)) == ["SlowBot-2", "EchoBot"]


def test_timeout_applies_to_each_model(kernel: Kernel) -> None:
    # lane 3 with spread=9 is 19x slower (~0.95 s a word): it times out, lane 1 (~0.5 s) does not
    result = kernel.run_ok("%%poe SlowBot-1 SlowBot-3 --timeout 2 --param chunks=10 --param delay=0.05 "
                           "--param spread=9\npatience")
    bodies = column_bodies(final_html(result))
    assert "word9" in bodies["SlowBot-1"] and "⚠" not in bodies["SlowBot-1"]
    assert "⚠ PoeTimeoutError" in bodies["SlowBot-3"] and "word0" in bodies["SlowBot-3"]
    assert kernel.value("[_poe['SlowBot-1'].status, _poe['SlowBot-3'].status]") == ["ok", "error"]


def test_ctrl_c_stops_every_stream_and_keeps_partials(kernel: Kernel) -> None:
    msg_id = kernel.submit("%%poe SlowBot-1 SlowBot-2 SlowBot-3 --param chunks=200 --param delay=0.05\nstop me")
    time.sleep(1.5)
    kernel.interrupt()
    result = kernel.collect(msg_id)
    assert "partial answer" in one_line_error(result, "StreamInterrupted")
    html = final_html(result)
    bodies = column_bodies(html)
    assert len(bodies) == 3 and all("word0 word1" in b for b in bodies.values())
    assert all(s.startswith("⏹ interrupted") for s in column_states(html).values())
    assert kernel.value("[(r.interrupted, r.text.startswith('word0 word1')) for r in _poe]") == [[True, True]] * 3
    assert kernel.value("__import__('poe_magic.wire.loop', fromlist=['x']).shared_loop().pending_tasks()") == 0
    assert "EchoBot" in kernel.run_ok("%%poe EchoBot\nstill alive?").markdown()[0]


def test_runs_repeat_each_model_and_report_median_and_spread(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    result = kernel.run_ok("%%poe SlowBot-1 EchoBot --runs 3 -o cmp --param chunks=2 --param delay=0.01\nagain")
    assert sorted(r["bot"] for r in server.requests("/bot/")) == ["EchoBot"] * 3 + ["SlowBot-1"] * 3
    info = kernel.value("{'columns': list(cmp.to_frame().columns), 'runs': cmp.to_frame()['runs'].tolist(), "
                        "'per_run': cmp.runs_frame()[['run', 'model']].values.tolist(), "
                        "'spread_ok': bool((cmp.to_frame()['elapsed_spread'] >= 0).all())}")
    assert info["columns"][-3:] == ["runs", "time_to_first_token_spread", "elapsed_spread"]
    assert info["runs"] == [3, 3] and info["spread_ok"]
    assert info["per_run"] == [[1, "SlowBot-1"], [2, "SlowBot-1"], [3, "SlowBot-1"],
                               [1, "EchoBot"], [2, "EchoBot"], [3, "EchoBot"]]
    html = final_html(result)
    assert "medians over 3 runs" in html and "total spread" in html and "run 3 of 3" in html


def test_budget_stops_further_runs_and_keeps_the_runs_done(kernel: Kernel, server: LocalServer) -> None:
    kernel.run_ok("from poe_magic.spending import ledger; ledger.wait_for_costs(30)\n"
                  "ledger.set_budget(ledger.session_spend() + 15)")  # (costs are found after each cell)
    server.reset()
    try:
        result = kernel.run("%%poe SlowBot-1 SlowBot-2 --runs 3 --param chunks=1 --param delay=0.01\nbudget")
        one_line_error(result, "BudgetExceededError")
        assert len(server.requests("/bot/")) == 2, "run 1 went out (20 points), run 2 was refused"
        kernel.run_ok("ledger.wait_for_costs(30)")
        assert kernel.value("[_poe.rounds_done, [r.points for r in _poe]]") == [1, [10, 10]]
        forced = kernel.run_ok("%%poe SlowBot-1 SlowBot-2 --force --param chunks=1 --param delay=0.01\nforced")
        assert "word0" in final_html(forced)
    finally:
        kernel.run_ok("ledger.set_budget(None)")


@pytest.mark.kernel
def test_persisted_notebook_shows_every_answer_without_a_kernel(activated: LocalServer, tmp_path: Path) -> None:
    """Execute a notebook headlessly (as CI and nbconvert do), then read what the saved file holds."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext poe_magic"),
        nbformat.v4.new_code_cell("%%poe SlowBot-1 MarkdownBot EchoBot --param chunks=3 --param delay=0.02\n"
                                  "compare me"),
    ])
    notebook_client(nb, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "compare.ipynb"
    nbformat.write(nb, path)
    outputs = nbformat.read(path, as_version=4).cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data"] * 2, "the static grid and its summary, no error"
    saved = outputs[0].data["text/html"] + outputs[1].data["text/html"]
    assert "poe_magic" in outputs[1].metadata  # the summary table carries the metadata
    bodies = column_bodies(saved)
    assert "word0 word1 word2" in bodies["SlowBot-1"]
    assert "<h1>A Markdown answer</h1>" in bodies["MarkdownBot"] and "<table>" in bodies["MarkdownBot"]
    assert "compare me" in bodies["EchoBot"]
    assert "<script" not in saved and "first token" in saved
    assert "== MarkdownBot ==" in outputs[0].data["text/plain"]  # text-only viewers get the answers too
    exported, _ = HTMLExporter().from_notebook_node(nbformat.read(path, as_version=4))
    assert "word0 word1 word2" in exported and "A Markdown answer</h1>" in exported
    assert activated.key not in path.read_text()


# -- the Python API in this process ------------------------------------------------------------

@both_protocols
def test_python_api_sends_the_same_options_to_every_model(activated: LocalServer) -> None:
    import json

    import poe_magic

    c = poe_magic.compare("same for all", ["EchoBot", "SlowBot-1"], system="be brief", temperature=0.3,
                          stop=["STOP"], params={"chunks": 2, "delay": 0.01}, stream=False)
    assert isinstance(c, poe_magic.Comparison) and list(c.replies) == ["EchoBot", "SlowBot-1"]
    received = json.loads(c["EchoBot"].text.split("```json\n")[1].split("\n```")[0])
    assert received["system"] == "be brief" and received["temperature"] == 0.3
    assert received["stop_sequences"] == ["STOP"] and received["parameters"] == {"chunks": 2, "delay": 0.01}
    assert c["SlowBot-1"].text == "word0 word1 ", "the parameters reached the other model too"
    assert poe_magic.last_comparison() is c and poe_magic.last_reply() in list(c)
    assert "EchoBot" in repr(c) and "<Comparison of 2 models" in repr(c)
    plain = poe_magic.compare("as text", ["EchoBot", "MarkdownBot"], format="text", stream=False)._repr_html_()
    assert "- **bot**: EchoBot" in plain and "<pre" in plain and "<h1>" not in plain


@both_protocols
def test_images_from_image_models_show_in_their_columns(activated: LocalServer) -> None:
    import poe_magic

    c = poe_magic.compare("a red fox mode=file", ["Imagen-4", "ImageBot"], stream=False)
    bodies = column_bodies(c._repr_html_())
    assert '<img src="data:image/svg+xml;base64,' in bodies["Imagen-4"]  # a Markdown image link
    assert re.search(r'<img src="http://127\.0\.0\.1:\d+/[^"]+" alt="image1.png"', bodies["ImageBot"])  # a file event


@both_protocols
def test_terminal_view_prints_each_answer_and_a_summary(activated: LocalServer, capsys: Any) -> None:
    import poe_magic

    poe_magic.compare("hello", ["EchoBot", "FailingBot"])
    out = capsys.readouterr().out
    assert "Comparing EchoBot, FailingBot" in out and "== EchoBot ==" in out and "== FailingBot ==" in out
    assert "FailingBot: error" in out and "EchoBot: ok" in out


# -- rendering units ---------------------------------------------------------------------------

def test_model_output_is_escaped_and_fallback_without_mistune(monkeypatch: pytest.MonkeyPatch) -> None:
    html = markdown_html.markdown_to_html("<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x>")
    assert "<script>" not in html and 'href="javascript' not in html and "<img" not in html
    monkeypatch.setattr(markdown_html, "_converter", None)
    monkeypatch.setitem(sys.modules, "mistune", None)  # import mistune now fails
    assert markdown_html.markdown_to_html("**a** <b>") == markdown_html.pre_html("**a** <b>")
    assert "&lt;b&gt;" in markdown_html.pre_html("**a** <b>")
    assert "<b>" not in compare_view.column_html("<b>", "", "ok").replace("<b>&lt;b&gt;</b>", "")


def test_themed_styles_have_a_plain_fallback_for_sanitized_notebooks() -> None:
    """JupyterLab's sanitizer (untrusted notebooks) drops declarations whose value uses var():
    each must come after a plain declaration of the same property, which is then what stays."""
    page = compare_view.grid_html([compare_view.column_html("M", "<p>x</p>", "ok", ValueError("bad"))])
    styles = re.findall(r'style="([^"]*)"', page)
    themed = 0
    for style in styles:
        declarations = [d.split(":", 1) for d in style.split(";") if d]
        for i, (prop, value) in enumerate(declarations):
            if "var(" in value:
                themed += 1
                assert any(p == prop and "var(" not in v for p, v in declarations[:i]), style
    assert themed >= 3  # the column border, the header background and its border


def test_narrow_columns_scroll_code_wrap_headers_and_shrink_headings() -> None:
    """Code blocks scroll sideways (no JSON broken mid-word), a long live status wraps under
    the model name instead of being clipped, and headings are sized for a column while the
    answer keeps its own <h1> element."""
    body = markdown_html.markdown_to_html('# Title\n\n```json\n{"bot": "EchoBot", "user": "x"}\n```\n')
    assert "<h1>Title</h1>" in body
    pre = re.search(r'<pre style="([^"]*)"><code', body)
    assert pre is not None and "white-space:pre;" in pre.group(1) and "overflow-x:auto" in pre.group(1)
    assert "overflow-wrap:normal" in pre.group(1) and "anywhere" not in pre.group(1)
    page = compare_view.grid_html([compare_view.column_html("SlowBot", body, "streaming… 1,234 chars")])
    header = re.search(r'<div style="(display:flex[^"]*)"><b>SlowBot</b><span style="([^"]*)">', page)
    assert header is not None and "flex-wrap:wrap" in header.group(1) and "nowrap" not in header.group(2)
    assert re.search(r"<style>[^<]*\.poe-compare \.poe-answer h1\{font-size:1\.3em\}", page)
    assert '<div class="poe-answer"' in page
