"""Prompting like a notebook user, in a real kernel against the local server: threads, system
prompt and parameters, {variables}, attachments, images, formats, cache, line magic, help.

The EchoBot answers with a ```json block of exactly what reached the server; FileReaderBot
downloads the attachments it gets and reports their SHA-256; ImageBot returns PNGs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

from harness import CellResult, Kernel

from poe_magic.server.bots.demo import MARKDOWN_SAMPLE
from poe_magic.server.launch import LocalServer


def received(result: CellResult) -> dict:
    """What the EchoBot (or FileReaderBot) reported receiving, from the cell's final Markdown."""
    text = result.markdown()[0]
    return json.loads(text.split("```json\n")[1].split("\n```")[0])


def one_line_error(result: CellResult, name: str) -> str:
    assert result.error is not None, "the cell should have failed"
    assert result.error["ename"] == name, result.error
    assert len(result.error["traceback"]) == 1, result.error["traceback"]
    return result.error["traceback"][0]


def usage_error(result: CellResult) -> str:
    """An option-parsing failure: IPython's one-line UsageError on stderr."""
    assert result.reply["status"] == "error"
    assert result.stderr.count("\n") <= 1, result.stderr
    return result.stderr


# -- system prompt and parameters -----------------------------------------------------------

def test_system_temperature_stop_and_params_reach_the_server(kernel: Kernel) -> None:
    result = kernel.run_ok('%%poe EchoBot -s "Answer tersely" -t 0.3 --stop END --stop "##" '
                           '--param thinking_budget=2048 --param style=terse --param flags=[1,2]\nhello')
    seen = received(result)
    assert seen["system"] == "Answer tersely"
    assert seen["temperature"] == 0.3
    assert seen["stop_sequences"] == ["END", "##"]
    assert seen["parameters"] == {"thinking_budget": 2048, "style": "terse", "flags": [1, 2]}
    assert seen["turns"] == [{"role": "user", "content": "hello"}]


def test_invalid_option_values_are_one_line_and_send_nothing(kernel: Kernel, server: LocalServer) -> None:
    kernel.run_ok("%poe models")  # the catalogue loaded, as after any answer: from here on nothing is sent
    server.reset()
    assert "argument -t/--temperature: invalid float value: 'warm'" in usage_error(kernel.run("%%poe EchoBot -t warm\nhi"))
    assert "--temperature must be between 0 and 2" in one_line_error(kernel.run("%%poe EchoBot -t 3\nhi"), "PoeUsageError")
    assert "argument -f/--format: invalid choice: 'pdf'" in usage_error(kernel.run("%%poe EchoBot -f pdf\nhi"))
    assert "--timeout must be more than 0" in one_line_error(kernel.run("%%poe EchoBot --timeout 0\nhi"), "PoeUsageError")
    assert "--chat takes a thread name" in one_line_error(kernel.run("%%poe EchoBot --chat 'a b'\nhi"), "PoeUsageError")
    assert "--param expects KEY=VALUE" in one_line_error(kernel.run("%%poe EchoBot --param =3\nhi"), "PoeUsageError")
    missing = one_line_error(kernel.run("%%poe EchoBot --attach /no/such/file.png\nhi"), "PoeUsageError")
    assert "--attach: no such file '/no/such/file.png' (nothing was sent)" in missing
    assert server.requests() == []


# -- conversations --------------------------------------------------------------------------

def test_chat_resends_history_keeps_system_and_model_and_plain_cells_stay_single(kernel: Kernel) -> None:
    kernel.run_ok("%poe reset --all")
    kernel.run_ok('%%poe EchoBot --chat -s "Be brief"\nfirst question')
    second = received(kernel.run_ok("%%poe --chat\nsecond question"))  # thread's model and system reused
    assert second["bot"] == "EchoBot" and second["system"] == "Be brief"
    assert [t["role"] for t in second["turns"]] == ["user", "bot", "user"]
    assert second["turns"][0]["content"] == "first question"
    assert "first question" in second["turns"][1]["content"]  # the bot's own first answer came back
    assert second["turns"][2]["content"] == "second question"
    plain = received(kernel.run_ok("%%poe EchoBot\na fresh single turn"))
    assert plain["turns"] == [{"role": "user", "content": "a fresh single turn"}] and plain["system"] is None
    assert kernel.value("[_poe.thread, len(__import__('poe_magic').get_thread('default'))]") == [None, 2]


def test_switching_model_in_a_named_thread_keeps_the_history(kernel: Kernel) -> None:
    kernel.run_ok("%poe reset --all")
    kernel.run_ok("%%poe MarkdownBot --chat design\nshow me markdown")
    seen = received(kernel.run_ok("%%poe EchoBot --chat design\nnow you"))
    assert seen["turns"][0] == {"role": "user", "content": "show me markdown"}
    assert seen["turns"][1]["role"] == "bot" and seen["turns"][1]["content"].startswith(MARKDOWN_SAMPLE)
    assert kernel.value("_poe.thread") == "design"
    table = kernel.run_ok("%poe threads").markdown()[0]
    assert "| `design` | EchoBot | 2 |" in table
    transcript = kernel.run_ok("%poe threads design").markdown()[0]
    assert "**MarkdownBot**" in transcript and "**EchoBot**" in transcript


def test_reset_forgets_one_thread(kernel: Kernel) -> None:
    kernel.run_ok("%poe reset --all")
    kernel.run_ok("%%poe EchoBot --chat keep\none")
    kernel.run_ok("%%poe EchoBot --chat drop\none")
    assert "Forgot 1 thread: drop" in kernel.run_ok("%poe reset drop").stdout
    assert "no thread named 'drop'" in one_line_error(kernel.run("%poe reset drop"), "PoeUsageError")
    assert received(kernel.run_ok("%%poe EchoBot --chat drop\nagain"))["turns"] == [{"role": "user", "content": "again"}]
    assert len(received(kernel.run_ok("%%poe EchoBot --chat keep\ntwo"))["turns"]) == 3
    assert [t["name"] for t in kernel.value("[{'name': t.name} for t in __import__('poe_magic').list_threads()]")] == [
        "keep", "drop"]


def test_failed_turns_are_recorded_as_partial_or_not_at_all(kernel: Kernel) -> None:
    kernel.run_ok("%poe reset --all")
    failed = kernel.run("%%poe FailingBot --chat f\nwords=3")
    assert failed.error["ename"] == "ServerError"
    assert kernel.value("[(t.answer, t.partial) for t in __import__('poe_magic').get_thread('f').turns]") == [
        ["partial0 partial1 partial2 ", True]]
    assert kernel.run("%%poe No-Such-Model --chat f\nhello").error["ename"] == "UnknownModelError"
    assert kernel.value("len(__import__('poe_magic').get_thread('f'))") == 1  # nothing came back: not recorded
    seen = received(kernel.run_ok("%%poe EchoBot --chat f\ngo on"))
    assert seen["turns"][1] == {"role": "bot", "content": "partial0 partial1 partial2 "}
    assert "1 partial" in kernel.run_ok("%poe threads").markdown()[0]


def test_interrupted_turn_is_kept_marked_partial(kernel: Kernel) -> None:
    kernel.run_ok("%poe reset --all")
    msg_id = kernel.submit("%%poe SlowBot --chat slow\nchunks=200 delay=0.05")
    shown: list[bool] = []

    def interrupt_once_shown(msg: dict[str, Any]) -> None:  # (a fixed sleep raced a loaded machine)
        if not shown and "word1" in json.dumps(msg["content"]):
            shown.append(True)
            kernel.interrupt()

    assert kernel.collect(msg_id, on_message=interrupt_once_shown).error["ename"] == "StreamInterrupted"
    turn = kernel.value("(lambda t: [t.partial, t.answer.startswith('word0 word1')])"
                        "(__import__('poe_magic').get_thread('slow').turns[-1])")
    assert turn == [True, True]


# -- variables --------------------------------------------------------------------------------

def test_variables_inputs_outputs_and_escapes_are_filled_in(kernel: Kernel) -> None:
    source = kernel.run_ok("city = 'Lyon'; facts = {'pop': 522250}")
    n_in = source.reply["execution_count"]
    output = kernel.run_ok("6 * 7")
    n_out = output.reply["execution_count"]
    seen = received(kernel.run_ok(
        f"%%poe EchoBot\n{{city}} has {{facts['pop']}} people; code {{In[{n_in}]}}; out {{Out[{n_out}]}}; "
        '{{literal}} and {"json": {"kept": 1}}'))
    assert seen["turns"][0]["content"] == (
        "Lyon has 522250 people; code city = 'Lyon'; facts = {'pop': 522250}; out 42; "
        '{literal} and {"json": {"kept": 1}}')


def test_dataframes_become_markdown_tables_cut_with_a_note(kernel: Kernel) -> None:
    kernel.run_ok("import pandas as pd\nbig = pd.DataFrame({'n': range(120), 'sq': [i * i for i in range(120)]})")
    content = received(kernel.run_ok("%%poe EchoBot\nLook: {big}"))["turns"][0]["content"]
    lines = content.splitlines()
    assert lines[1:4] == ["|  | n | sq |", "|---|---|---|", "| 0 | 0 | 0 |"]
    assert "| 49 | 49 | 2401 |" in lines and "| 50 | 50 | 2500 |" not in lines
    assert content.endswith("(table cut: showing the first 50 of 120 rows)")


def test_unknown_name_is_one_line_and_nothing_is_sent_unless_no_interpolate(kernel: Kernel, server: LocalServer) -> None:
    kernel.run_ok("%poe models")  # the catalogue loaded, as after any answer: from here on nothing is sent
    server.reset()
    error = one_line_error(kernel.run("%%poe EchoBot\nwhat about {nowhere_defined}?"), "PoeUsageError")
    assert "no variable named 'nowhere_defined'" in error and "--no-interpolate" in error
    assert "there is no In[9999]" in one_line_error(kernel.run("%%poe EchoBot\n{In[9999]}"), "PoeUsageError")
    assert server.requests() == []
    seen = received(kernel.run_ok("%%poe EchoBot --no-interpolate\nkeep {nowhere_defined} and {{this}}"))
    assert seen["turns"][0]["content"] == "keep {nowhere_defined} and {{this}}"


def test_system_prompt_and_line_magic_are_interpolated(kernel: Kernel) -> None:
    kernel.run_ok("lang = 'French'; n = 3")
    assert received(kernel.run_ok('%%poe EchoBot -s "Answer in {lang}"\nhi'))["system"] == "Answer in French"
    line = kernel.run_ok("%poe EchoBot give me {n} facts in {lang}")
    assert received(line)["turns"] == [{"role": "user", "content": "give me 3 facts in French"}]


def test_line_magic_takes_the_cell_options_before_the_question(kernel: Kernel, server: LocalServer) -> None:
    kernel.run_ok("%poe reset --all")
    first = received(kernel.run_ok('%poe EchoBot -s "Be brief" --chat ideas -t 0.4 --param k=2 what is a monad'))
    assert first["system"] == "Be brief" and first["temperature"] == 0.4 and first["parameters"] == {"k": 2}
    assert first["turns"] == [{"role": "user", "content": "what is a monad"}]
    second = received(kernel.run_ok("%poe EchoBot --chat ideas -o kept and a functor's use"))
    assert second["system"] == "Be brief"  # the thread keeps its system prompt, as in %%poe --chat
    assert [t["content"] for t in second["turns"]][::2] == ["what is a monad", "and a functor's use"]
    assert kernel.value("kept is _poe and kept.prompt") == "and a functor's use"
    # `--` before a question that starts with -; --chat then takes no thread name
    dashed = received(kernel.run_ok("%poe EchoBot --chat -- -5 plus 3, say it in words"))
    assert dashed["turns"] == [{"role": "user", "content": "-5 plus 3, say it in words"}]
    # without options: the whole line is the question, quotes and dashes included, as before
    plain = received(kernel.run_ok('%poe EchoBot what does "-s" mean -- in a shell'))
    assert plain["turns"] == [{"role": "user", "content": 'what does "-s" mean -- in a shell'}]
    assert plain["system"] is None and plain["temperature"] is None
    negative = received(kernel.run_ok("%poe EchoBot -t 0 -5 plus 3"))  # a number is no option
    assert negative["turns"] == [{"role": "user", "content": "-5 plus 3"}] and negative["temperature"] == 0

    server.reset()
    typo = usage_error(kernel.run("%poe EchoBot --temprature 0.2 hi"))
    assert "did you mean --temperature?" in typo and "goes after --" in typo
    assert "goes after --" in usage_error(kernel.run("%poe EchoBot -x marks the spot"))
    assert "no question after the options" in one_line_error(kernel.run("%poe EchoBot -s terse"), "PoeUsageError")
    assert "invalid float value" in usage_error(kernel.run("%poe EchoBot -t warm hi"))
    assert server.requests("/bot/") == [], "bad options send nothing"


# -- attachments and non-text answers ---------------------------------------------------------

def test_attachments_are_uploaded_and_reach_the_bot(kernel: Kernel, server: LocalServer, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("line one\nline two\n")
    picture = tmp_path / "tiny.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)  # binary, CR/LF bytes included
    server.reset()
    seen = received(kernel.run_ok(f"%%poe FileReaderBot --attach {notes} -a {picture}\nwhat is in these?"))
    files = {f["name"]: f for f in seen["files"]}
    assert files["notes.txt"]["content_type"] == "text/plain" and files["notes.txt"]["text"] == "line one\nline two\n"
    assert files["tiny.png"]["content_type"] == "image/png"
    for path in (notes, picture):
        assert files[path.name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    uploads = server.requests("/poe_api/file_upload_3RD_PARTY_POST")
    assert [u["status"] for u in uploads] == [200, 200] and all(u["authorized"] for u in uploads)
    echo = received(kernel.run_ok(f"%%poe EchoBot --attach {notes}\nsame file again"))
    assert [(a["name"], a["content_type"]) for a in echo["attachments"]] == [("notes.txt", "text/plain")]
    assert len(server.requests("/poe_api/file_upload_3RD_PARTY_POST")) == 2  # same bytes: uploaded once


def test_returned_image_file_is_shown_as_an_image_and_listed(kernel: Kernel) -> None:
    result = kernel.run_ok("%%poe ImageBot -o pic\nmode=file a red square")
    images = [d for d in result.displays().values() if "image/png" in d]
    assert len(images) == 1
    assert base64.b64decode(images[0]["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert kernel.value("[(f.name, f.content_type, f.source) for f in pic.attachments]") == [
        ["image1.png", "image/png", "attachment"]]


def test_markdown_image_links_are_embedded_and_point_below(kernel: Kernel) -> None:
    result = kernel.run_ok("%%poe ImageBot\nmode=link images=2 two squares")
    images = [d for d in result.displays().values() if "image/png" in d]
    assert len(images) == 2
    final = result.markdown()[0]
    assert "*(image below: picture 1)*" in final and "/poe_api/files/" not in final
    assert kernel.value("[f.source for f in _poe.attachments]") == ["link", "link"]
    assert kernel.value("_poe.text.count('](http')") == 2  # the Reply keeps the model's own text


# -- formats ----------------------------------------------------------------------------------

def test_code_format_puts_the_code_in_a_new_cell_without_running_it(kernel: Kernel) -> None:
    kernel.run_ok("greet = None")
    result = kernel.run_ok("%%poe MarkdownBot --format code\nshow me markdown")
    expected = 'def greet(name: str) -> str:\n    return f"Hello, {name}!"'
    payloads = [p for p in result.reply["payload"] if p.get("source") == "set_next_input"]
    assert payloads == [{"source": "set_next_input", "text": expected, "replace": False}]
    assert result.markdown()[0].startswith(f"```python\n{expected}\n```")
    assert kernel.value("greet is None")  # shown and queued, never run


def test_html_and_text_formats(kernel: Kernel) -> None:
    html = kernel.run_ok("%%poe MarkdownBot -f html\nshow me markdown")
    (data, footer) = html.displays().values()  # the answer, then its footer
    assert data["text/html"].startswith(MARKDOWN_SAMPLE) and "<sub>MarkdownBot" in footer["text/html"]
    text = kernel.run_ok("%%poe MarkdownBot -f text\nshow me markdown")
    (data, footer) = text.displays().values()
    assert set(data) == set(footer) == {"text/plain"} and footer["text/plain"].startswith("MarkdownBot ·")


# -- cache ------------------------------------------------------------------------------------

def test_cached_answer_sends_no_request_and_says_so(kernel: Kernel, server: LocalServer) -> None:
    kernel.run_ok("%poe cache clear")
    question = f"cache me {uuid.uuid4().hex}"
    server.reset()
    first = kernel.run_ok(f"%%poe EchoBot --cache -t 0.5\n{question}")
    assert len(server.requests("/bot/")) == 1 and "from cache" not in first.markdown()[0]
    second = kernel.run_ok(f"%%poe EchoBot --cache -t 0.5\n{question}")
    assert len(server.requests("/bot/")) == 1, "a cached answer must not reach the server"
    assert "from cache, 0 points" in second.markdown()[-1]
    assert kernel.value("[_poe.cached, _poe.points]") == [True, 0]
    assert kernel.value("__import__('poe_magic.spending.ledger', fromlist=['_']).calls()[-1].points") == 0  # a 0-point call
    assert received(second) == received(first)
    kernel.run_ok(f"%%poe EchoBot --cache -t 0.6\n{question}")  # another temperature: another answer
    kernel.run_ok(f"%%poe EchoBot\n{question}")  # cache off by default
    assert len(server.requests("/bot/")) == 3
    home = Path(kernel.value("str(__import__('poe_magic').settings.home)"))
    stored = list((home / "cache" / "answers").glob("*/*/*.json"))  # one folder per account
    assert len(stored) == 2 and not any(server.key in p.read_text() for p in stored)
    assert "Deleted 2 cached answers" in kernel.run_ok("%poe cache clear").stdout


def test_cache_setting_and_no_cache(kernel: Kernel, server: LocalServer) -> None:
    question = f"setting {uuid.uuid4().hex}"
    kernel.run_ok("%poe cache on")
    try:
        server.reset()
        kernel.run_ok(f"%%poe EchoBot\n{question}")
        kernel.run_ok(f"%%poe EchoBot\n{question}")
        assert len(server.requests("/bot/")) == 1
        kernel.run_ok(f"%%poe EchoBot --no-cache\n{question}")
        assert len(server.requests("/bot/")) == 2
    finally:
        kernel.run_ok("%poe cache off")


# -- help -------------------------------------------------------------------------------------

def test_help_shows_every_option_with_examples_and_the_subcommands(kernel: Kernel) -> None:
    page = kernel.run_ok("%%poe?").reply["payload"][0]["data"]["text/plain"]
    assert kernel.run_ok("%poe?").reply["payload"][0]["data"]["text/plain"] == page
    examples, options = page.split("Examples", 1)[1].split("positional arguments", 1)
    for option in ("--chat", "--attach", "--cache", "--no-cache", "--no-interpolate", "--format", "--system",
                   "--temperature", "--stop", "--param", "--timeout", "--output"):
        assert option in options, option
    for used in ("--chat", "--attach", "--cache", "--no-cache", "--no-interpolate", "--format code", "-f html",
                 "-s ", "-t ", "--stop ", "--param ", "--timeout ", "-o ", "{df}", "{In[3]}"):
        assert used in examples, used
    subcommands = kernel.run_ok("%poe help").markdown()[0]
    for name in ("threads", "reset", "cache"):
        assert f"`%poe {name}`" in subcommands


def test_help_page_is_plain_text_and_its_examples_run_as_written(kernel: Kernel) -> None:
    from IPython.core.inputtransformer2 import TransformerManager

    page = re.sub(r"\x1b\[[0-9;]*m", "", kernel.run_ok("%%poe?").reply["payload"][0]["data"]["text/plain"])
    assert "::" not in page and "``" not in page, "reST markup shown raw in the pager"
    assert "\nUsage: %%poe [-o NAME]" in page and "<" not in page.split("Usage:", 1)[1]  # metavars as typed
    examples = [line.split("  (")[0].strip() for line in page.split("Examples", 1)[1].splitlines()
                if line.strip().startswith("%poe ") and " / " not in line]
    assert "%poe GPT-5 what is 2**10" in examples and len(examples) >= 2
    for line in examples:  # a trailing "word?" would make IPython show help instead of asking
        assert TransformerManager().transform_cell(line + "\n").startswith("get_ipython().run_line_magic('poe',"), line
