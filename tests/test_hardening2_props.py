"""Hardening, second round (issue 23), without a kernel: a model's Markdown rendered safely
(row 1, property-tested with mistune standing in for the frontend's renderer) and the package
importing and locking where ``fcntl`` does not exist (row 14, a subprocess without it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import mistune
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from poe_magic.core.answer_display import markdown_bundle
from poe_magic.core.reply import Reply
from poe_magic.core.safe_markdown import safe_markdown, safe_target

#: the tags Markdown itself makes (anything else came from raw HTML)
MARKDOWN_TAGS = {"p", "em", "strong", "code", "pre", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
                 "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "hr", "br", "del"}
ATTACKS = ['Hi <img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>",
           "[click](javascript:window.__pwned=3)", "[c](JaVaScRiPt:alert(1))", "[c](java&#115;cript:alert(1))",
           "[c]( javascript:alert(1) )", "[c](<javascript:alert(1)>)", "<javascript:alert(1)>",
           "[c][r]\n\n[r]: javascript:alert(1)", "![x](javascript:alert(1))", "<!-- <img src=x onerror=1> -->",
           "<div>\n\n*x*\n\n</div>", '<a href="javascript:alert(1)">a</a>', "<svg onload=alert(1)>",
           "[c](vbscript:msgbox(1))", "[c](data:text/html,<script>alert(1)</script>)", "\\`<img src=x onerror=1>`",
           "``<b>`<img src=x onerror=1>", "```x`y\n<img src=x onerror=1>\n```", "  ```\n<i>code</i>\n  ```"]
FRAGMENTS = ["<", ">", "`", "```", "~~~", "\n", "\n\n", "\r", "\t", "> ", "- ", "1. ", "|---|", "\x1e", "  ```\n",
             "\n```\n", "&#60;", "%3C", " ", "    ", "[", "]", "(", ")", ":", "!", "&#", ";", "\\", "*",
             "|", "-", "javascript", "data", "http", "img", "script", "onerror=", "a", "x", "=", '"', "'", "/", "#"]


class _Audit(HTMLParser):
    """Collects what in rendered HTML could run: unknown tags, on* attributes, bad targets."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in MARKDOWN_TAGS:
            self.problems.append(f"tag {tag}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"attribute {name}")
            if name in ("href", "src") and value is not None and not safe_target(value):
                self.problems.append(f"{name}={value}")


def _audit(markdown: str) -> list[str]:
    # as trusting as JupyterLab with a trusted output: raw HTML and any link scheme kept
    renderer = mistune.HTMLRenderer(escape=False, allow_harmful_protocols=True)
    html = mistune.create_markdown(renderer=renderer, plugins=["table", "strikethrough", "url"])(markdown)
    audit = _Audit()
    audit.feed(str(html))
    return audit.problems


@pytest.mark.parametrize("attack", ATTACKS)
def test_safe_markdown_leaves_no_html_that_runs(attack: str) -> None:
    if attack in ATTACKS[:4]:  # these are dangerous as they stand (else the test would prove nothing)
        assert _audit(attack)
    assert _audit(safe_markdown(attack)) == []


@hsettings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(ATTACKS), st.text(max_size=4)), max_size=30))
def test_safe_markdown_any_text_renders_nothing_that_runs(parts: list[str]) -> None:
    text = "".join(parts)
    assert _audit(safe_markdown(text)) == [], text


@hsettings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="<]"), max_size=200))
def test_safe_markdown_leaves_text_without_html_or_links_alone(text: str) -> None:
    assert safe_markdown(text) == text


def test_markdown_still_renders_and_code_is_untouched() -> None:
    answer = ("**bold** and *it* `a < b`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
              "```html\n<script>alert(1)</script>\n```\n\n[docs](https://example.org) [m](mailto:a@b.c) "
              "[rel](notes/a.md) [top](#top) ![i](https://example.org/i.png)")
    assert safe_markdown(answer) == answer  # nothing to change: Markdown and code pass untouched
    html = str(mistune.create_markdown(escape=False, plugins=["table"])(safe_markdown(answer)))
    for piece in ("<strong>bold</strong>", "<table>", "<code>a &lt; b</code>", "&lt;script&gt;alert(1)",
                  'href="https://example.org"', 'href="mailto:a@b.c"', 'href="notes/a.md"'):
        assert piece in html


def test_every_markdown_output_of_an_answer_is_made_safe() -> None:
    attack = 'Hi <img src=x onerror="window.__pwned=1"> [c](javascript:alert(1))'
    bundle = markdown_bundle(attack, footer="GPT-5 · ⚠ PoeServerError: <img src=x onerror=1>")
    assert _audit(bundle["text/markdown"].replace("<sub>", "").replace("</sub>", "")) == []
    assert bundle["text/plain"].startswith(attack)  # plain text cannot run: the exact answer
    reply = Reply(model="GPT-5", prompt="p")
    reply.text = attack
    assert "onerror" in reply.text and _audit(reply._repr_markdown_().replace("<sub>", "").replace("</sub>", "")) == []


def test_the_answer_html_setting_is_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from poe_magic.base.config import settings

    attack = 'Hi <img src=x onerror="alert(1)">'
    assert markdown_bundle(attack)["text/markdown"] != attack
    monkeypatch.setattr(settings, "answer_html", True)
    assert markdown_bundle(attack)["text/markdown"] == attack  # rendered as the model wrote it


def test_a_partial_answer_with_an_open_fence_stays_code() -> None:
    from poe_magic.core.reply import closed_markdown

    assert closed_markdown(safe_markdown("x <b>\n```\n<b>")) == "x <\u200bb>\n```\n<b>\n```"
    # a fence in a list could be read otherwise by a renderer: no line is taken for code then
    assert safe_markdown("- ```\n  <b>\n```\n<b>") == "- ```\n  <\u200bb>\n```\n<\u200bb>"


def test_import_and_locks_work_without_fcntl(tmp_path: Path) -> None:
    """Row 14: ``fcntl`` made unavailable (as on Windows): the package imports, and two
    processes of two threads each doing read-modify-writes under ``file_lock`` lose nothing."""
    counter = tmp_path / "counter.txt"
    counter.write_text("0")
    script = textwrap.dedent(f"""
        import importlib, pkgutil, sys, threading, warnings
        import IPython.core.interactiveshell  # (on Linux IPython itself needs fcntl; on Windows it does not)
        sys.modules["fcntl"] = None
        warnings.simplefilter("ignore")
        import poe_magic
        for module in pkgutil.walk_packages(poe_magic.__path__, "poe_magic."):
            if not module.name.startswith("poe_magic.server"):  # the local test server is not the client
                importlib.import_module(module.name)
        import poe_magic.base.files as files
        from pathlib import Path
        path = Path({str(counter)!r})
        def work():
            for _ in range(25):
                with files.file_lock(path):
                    n = int(path.read_text())
                    files.write_text_atomic(path, str(n + 1))
        threads = [threading.Thread(target=work) for _ in range(2)]
        [t.start() for t in threads]; [t.join() for t in threads]
        print("fcntl" in sys.modules and sys.modules["fcntl"] is None)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    workers = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert out.strip() == "True"
    assert counter.read_text() == "100"
    assert re.fullmatch(r"\d+", counter.read_text())


@pytest.mark.parametrize("cell, rewritten", [
    ('doc = """\n%poe is the magic, is it not?\n"""\n', None),  # inside a string: text, not a statement
    ("doc = '''x\n  %poe a question?\n'''\n", None),
    ("x = (\n%poe is it?\n)\n", None),  # inside brackets
    ("x = 1 + \\\n%poe is it?\n", None),  # a continued line
    ("if True:\n    %poe is it?\n", 1),  # an indented statement is one
    ("a = 1\n%poe what is a 'closure'?\nb = 2\n", 1),
    ("!ls\n%poe why?\n", 1),  # IPython's own syntax around it
])
def test_question_mark_transformer_works_on_statements(cell: str, rewritten: int | None) -> None:
    from poe_magic.magics.transformer import keep_question_marks

    lines = cell.splitlines(keepends=True)
    out = keep_question_marks(lines)
    changed = [i for i, (a, b) in enumerate(zip(lines, out)) if a != b]
    assert changed == ([] if rewritten is None else [rewritten]), out
    if rewritten is not None:
        assert "run_line_magic('poe'" in out[rewritten] or 'run_line_magic(\'poe\'' in out[rewritten]


@pytest.mark.parametrize("answer", ['{"p": NaN}', '{"p": Infinity}', '```json\n{"p": -Infinity}\n```',
                                    'Here it is: {"p": NaN} done'])
def test_nan_and_infinity_are_not_json_numbers(answer: str) -> None:
    from poe_magic.prompting.schemas import as_schema

    schema = as_schema({"type": "object", "required": ["p"],
                        "properties": {"p": {"type": "number", "minimum": 0, "maximum": 1}}})
    data, problem = schema.parse(answer)
    assert data is None and problem, (data, problem)
    assert schema.parse('{"p": 0.5}') == ({"p": 0.5}, None)  # the control: a real number passes


JSONISH = st.lists(st.sampled_from(['{', '}', '"', ':', ',', '\\', '1', '23', ' ', 'word', '\n', '[', ']', '{"a": ',
                                    '"x"', 'null', 'NaN']), max_size=300)


@hsettings(max_examples=300, deadline=None)
@given(JSONISH)
def test_find_json_work_is_linear_in_the_text(parts: list[str]) -> None:
    """Row 10: whatever the text, the spans parsed total at most 3x its length (no rescans)."""
    from poe_magic.prompting.schemas import MAX_SCAN, candidates, find_json

    text = "".join(parts)
    spans = list(candidates(text))
    assert sum(map(len, spans)) <= 3 * len(text) and len(spans) <= MAX_SCAN
    find_json(text)  # never raises


@hsettings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters='{}"\\'), max_size=80),
       st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=12), st.booleans()), max_size=4),
       st.text(alphabet=st.characters(blacklist_characters='{}"\\'), max_size=80))
def test_find_json_finds_the_object_inside_prose(before: str, obj: dict, after: str) -> None:
    from poe_magic.prompting.schemas import find_json

    assert find_json(f"{before} {json.dumps(obj)} {after}") == obj


def test_find_json_on_two_megabytes_never_closed_is_one_pass() -> None:
    from poe_magic.prompting.schemas import candidates, find_json

    almost = "".join(f'{{"k{i}": "{"x" * 10_000}", "n": ' for i in range(200))  # the 2 MB
    assert list(candidates(almost)) == [] and find_json(almost) is None
    nested = "{" * 100_000 + "}" * 99_999  # one brace short: 99,999 spans, nested
    spans = list(candidates(nested))
    assert sum(map(len, spans)) <= 3 * len(nested)


def _insert(db: Any, first: int, sizes: list[int]) -> None:
    from poe_magic.spending import calllog

    rows = [(f"id{first + i}", "t", float(first + i), "ask", "M", "p" * (size // 2), None, "{}", None,
             "a" * (size - size // 2), None, "ok", None, None, 1.0, 1, None, "", "", 0, 0, None) for i, size in enumerate(sizes)]
    with db:
        db.executemany(f"INSERT INTO calls ({', '.join(calllog.COLUMNS)}) VALUES "
                       f"({', '.join('?' * len(calllog.COLUMNS))})", rows)


@hsettings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(10, 20_000), min_size=1, max_size=120), min_size=1, max_size=4),
       st.sampled_from([0.25, 0.5, 1.0]))
def test_prune_keeps_the_newest_within_the_limit(batches: list[list[int]], max_mb: float) -> None:
    """Row 5: any sequence of writes under any limit: after each prune the files are within
    the limit (+25%; the database and its WAL, the 32 KB -shm index aside), what is left is the
    newest calls without a gap, and the newest is kept."""
    import tempfile

    from poe_magic.spending import calllog

    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "log.sqlite3"
        db = calllog.connect(file)
        written = 0
        try:
            for sizes in batches:
                _insert(db, written, sizes)
                written += len(sizes)
                calllog.prune(db, max_mb)
                left = [int(r[0]) for r in db.execute("SELECT ts FROM calls ORDER BY ts")]
                assert left == list(range(written - len(left), written))  # the newest, no gap
                assert left, "the newest call is kept"
                if len(left) > 1:
                    files = sum(Path(folder, name).stat().st_size for name in ("log.sqlite3", "log.sqlite3-wal"))
                    assert files <= max_mb * 1_000_000 * 1.25, (files, max_mb)
        finally:
            db.close()


def test_prune_at_two_megabytes_keeps_most_of_each_500_and_the_files_shrink(tmp_path: Path) -> None:
    """The issue's figures: 500 rows of 5 KB, five times, under log_max_mb = 2 (before: 73 of each
    500 newest kept, the files at 12 MB)."""
    from poe_magic.spending import calllog

    db = calllog.connect(tmp_path / "log.sqlite3")
    for round_ in range(5):
        _insert(db, round_ * 500, [5000] * 500)
        calllog.prune(db, 2.0)
        left = db.execute("SELECT count(*), max(ts) FROM calls").fetchone()
        assert left[0] >= 250 and left[1] == round_ * 500 + 499, left
        assert sum(p.stat().st_size for p in tmp_path.glob("log.sqlite3*")) <= 2_000_000
    db.close()


def test_json_schema_answers_are_checked_in_full() -> None:
    """Row 11: keywords the small validator does not know (pattern, minLength, maxItems) are checked by jsonschema."""
    from poe_magic.prompting.schemas import as_schema

    schema = as_schema({"type": "object", "required": ["s", "xs"],
                        "properties": {"s": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2},
                                       "xs": {"type": "array", "maxItems": 2}}})
    assert schema.parse('{"s": "ok", "xs": [1]}') == ({"s": "ok", "xs": [1]}, None)
    for bad, where in (('{"s": "ABC", "xs": []}', "s"), ('{"s": "a", "xs": []}', "s"), ('{"s": "ok", "xs": [1, 2, 3]}', "xs")):
        data, problem = schema.parse(bad)
        assert data is None and problem is not None and problem.startswith(where), (bad, problem)
