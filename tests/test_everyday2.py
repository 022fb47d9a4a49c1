"""Issue 25 "Everyday use, second round": the table's rows, each in a real kernel against the local server.

`#` comments on %poe lines; `_poe` the last answer from magics and Python alike; a refused
connection to a stopped local server fails at once (doctor's server row ✗); ``format="code"``
without code adds no cell; ``%config`` with a bad value is one line; no default model says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Kernel, loaded_kernel

from poe_magic.server import launch
from poe_magic.server.launch import LocalServer

pytestmark = [pytest.mark.kernel, pytest.mark.http]


@pytest.fixture(scope="module")
def k(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    with loaded_kernel(server, tmp_path_factory.mktemp("everyday2_home"), "%load_ext poe_magic\nimport poe_magic") as kernel:
        yield kernel


def echoed(result: Any) -> str:
    """The last message EchoBot says it received, from the cell's Markdown."""
    text = "\n".join(result.markdown()) or result.stdout
    assert "EchoBot received" in text, text
    return text.split("**last message**: ", 1)[1].split("\n", 1)[0]


def first_error_line(result: Any) -> str:
    assert result.error is not None, result.all_text()
    return f"{result.error['ename']}: {result.error['evalue']}"


def test_a_hash_word_starts_a_comment_on_poe_lines(k: Kernel) -> None:
    k.run_ok("%poe use EchoBot             # the default model; %poe alias sonnet Claude-Sonnet-4")
    assert k.value("poe_magic.settings.default_model") == "EchoBot"
    k.run_ok("%poe budget 5000           # refuse calls once this session has spent 5,000 points")
    assert "5,000" in k.run_ok("%poe budget").stdout
    k.run_ok("%poe budget off  # no cap")
    assert echoed(k.run_ok("%%poe EchoBot -o said  # a note about this cell\nhello")) == "hello"
    assert k.value("said.text") == k.value("_poe.text")
    # the question itself is sent verbatim: C# and a '#' inside it stay
    assert echoed(k.run_ok("%poe EchoBot what is C# and #42")) == "what is C# and #42"
    assert echoed(k.run_ok('%poe EchoBot -s "use # freely" what is C#')) == "what is C#"
    error = k.run("%poe EchoBot -t 0.5   # only a comment, no question").error
    assert error is not None and "no question" in error["evalue"], error


def test_underscore_poe_is_the_last_answer_from_magics_and_python(k: Kernel) -> None:
    k.run_ok("%%poe EchoBot\nA from the magic")
    k.run_ok("r = poe_magic.ask('B from python', 'EchoBot', stream=False)")
    assert k.value("_poe is r") is True
    assert "B from python" in k.value("_poe.text")
    k.run_ok("%%poe EchoBot MarkdownBot\nC compared")
    assert k.value("type(_poe).__name__") == "Comparison"
    k.run_ok("pieces = ''.join(poe_magic.stream('D streamed', 'EchoBot'))")
    assert k.value("type(_poe).__name__") == "Reply" and "D streamed" in k.value("_poe.text")
    k.run_ok("c = poe_magic.compare('E compared from python', ['EchoBot', 'MarkdownBot'])")
    assert k.value("_poe is c") is True
    # in one cell: the later call wins, and _poe is already the answer inside the cell
    k.run_ok("c2 = poe_magic.compare('F', ['EchoBot', 'MarkdownBot'])\n"
             "r2 = poe_magic.ask('G after the compare', 'EchoBot', stream=False)\nsame = _poe is r2")
    assert k.value("same") is True and k.value("_poe is r2") is True
    assert k.value("poe_magic.last_reply() is r2") is True


def test_without_a_default_model_a_question_says_so(k: Kernel) -> None:
    k.run_ok("poe_magic.settings.default_model = ''")
    try:
        line = first_error_line(k.run("%poe what is two plus two"))
        assert line.startswith("PoeUsageError: no default model: `%poe use MODEL`"), line
        # a mistyped subcommand with its options still gets its did-you-mean
        line = first_error_line(k.run("%poe histroy --days 7"))
        assert "did you mean %poe history" in line, line
    finally:
        k.run_ok("%poe use EchoBot")


def test_a_bad_config_value_is_one_line_without_a_logging_prefix(k: Kernel) -> None:
    before = k.value("poe_magic.settings.max_retries")
    result = k.run_ok("%config PoeMagics.max_retries = 50")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "max_retries" in lines[0], result.stderr
    assert "ERROR:root" not in result.stderr and "Traceback" not in result.all_text()
    assert k.value("poe_magic.settings.max_retries") == before


def test_format_code_without_a_code_block_adds_no_cell(k: Kernel) -> None:
    result = k.run_ok("r = poe_magic.ask('chunks=4 delay=0.01', 'SlowBot', format='code')")  # 'word0 word1 ...'
    payloads = result.reply.get("payload", [])
    assert not [p for p in payloads if p.get("source") == "set_next_input"], payloads
    assert "the answer has no code block; no cell was added" in result.stderr, result.stderr
    # a fenced answer still goes to a new cell below
    result = k.run_ok("r = poe_magic.ask('```python\\nprint(42)\\n```', 'EchoBot', format='code')")
    cells = [p["text"] for p in result.reply.get("payload", []) if p.get("source") == "set_next_input"]
    assert cells and "print(42)" in cells[0], result.reply


@pytest.fixture
def stopped_server(tmp_path: Path) -> Iterator[tuple[Kernel, LocalServer]]:
    """A kernel that used a local server which was then stopped."""
    srv = launch.start()
    kernel = Kernel(env={**srv.env, "POE_MAGIC_HOME": str(tmp_path / "home")})
    try:
        kernel.run_ok("%load_ext poe_magic\nimport poe_magic\n%poe EchoBot while the server runs")
        srv.stop()
        yield kernel, srv
    finally:
        kernel.shutdown()
        srv.stop()


def test_a_stopped_local_server_fails_at_once_with_what_to_do(stopped_server: tuple[Kernel, LocalServer]) -> None:
    k, srv = stopped_server
    for cell in ("%poe balance", "%%poe EchoBot\nhello", "poe_magic.ask('hi', 'EchoBot')"):
        result = k.run(cell)
        line = first_error_line(result)
        assert f"the local server at {srv.url}" in line and "is not running" in line, line
        assert "start it with poe_magic.start_local_server()" in line, line
        assert "retry" not in result.all_text(), result.all_text()  # not retried: refused is refused
    report = k.run_ok("d = poe_magic.doctor(wait=0)\nprint(d)").stdout
    server_row = next(line for line in report.splitlines() if " server " in f" {line} ")
    assert server_row.startswith("✗") and "not answering" in server_row, report


def test_costs_can_be_waited_for_from_python(k: Kernel) -> None:
    k.run_ok("r = poe_magic.ask('a cost to wait for', 'EchoBot', stream=False)")
    assert k.value("poe_magic.wait_for_costs(30)") is True
    points = k.value("r.wait_points(30)")
    assert isinstance(points, int) and points > 0 and k.value("r.points") == points
    assert k.value("'wait_for_costs' in dir(poe_magic)") is True


def test_the_demo_shows_costs_not_points_pending(tmp_path: Path) -> None:
    from poe_magic import demo

    executed = demo.execute(demo.DEFAULT_NOTEBOOK, timeout=120)
    assert demo.problems(executed) == []
    outputs = str([cell.get("outputs", []) for cell in executed.cells])
    assert "points pending" not in outputs and "None points" not in outputs
    assert " points" in outputs


def test_stand_ins_for_real_models_answer_structured_requests_and_judge_prompts(k: Kernel) -> None:
    k.run_ok("import pydantic, pandas as pd\nfrom typing import Literal\n"
             "class Label(pydantic.BaseModel):\n    label: Literal['spam', 'ham']\n    score: float\n"
             "reply = poe_magic.ask(\"Classify: 'Win a free phone!' (spam or ham)\", 'GPT-5', schema=Label, "
             "stream=False)")
    assert k.value("[type(reply.data).__name__, reply.data.label]") == ["Label", "spam"]
    k.run_ok("reviews = pd.DataFrame({'text': ['great phone, would buy again', 'it broke on day one']})\n"
             "results = poe_magic.batch(reviews, 'Classify: {text}', ['GPT-5', 'Grok-4'], "
             "schema={'label': Literal['positive', 'negative']}, progress=False)\n"
             "graded = poe_magic.grade(results, judge='Claude-Sonnet-4', rubric='Is the label right?', "
             "progress=False)\nboard = poe_magic.leaderboard(graded)")
    assert k.value("bool(results['error'].isna().all()) if 'error' in results else True") is True
    assert set(k.value("results['label'].astype(str).tolist()")) <= {"positive", "negative"}
    assert k.value("int(graded['score'].notna().sum())") == 4
    assert k.value("sorted(board['answers'].tolist())") == [2, 2]


def test_an_image_answer_is_shown_once(k: Kernel) -> None:
    result = k.run_ok("%%poe ImageBot\nimages=2 a picture, sent as a file and linked in the text")
    final = result.displays().values()
    pictures = [d for d in final if "image/png" in d]
    inline = [m for m in result.markdown() if "![picture" in m]
    assert len(pictures) == 2 and not inline, (len(pictures), inline)
    assert "image below" in "\n".join(result.markdown())
