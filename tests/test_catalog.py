"""The model catalogue, name resolution, aliases and the picker/chat objects.

Unit tests parse payloads and resolve names in this process against the local server over
real HTTP; kernel tests drive ``%poe models / use / alias / pick / chat`` in a real ipykernel.
(The widgets are clicked in a real browser in ``test_browser.py``.)
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from harness import Kernel

from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.base.conventions import LOCAL_OWNER, TEST_OWNER
from poe_magic.catalog import aliases, choosing, listing, resolve
from poe_magic.catalog import store as catalog
from poe_magic.core.session import current
from poe_magic.server.launch import LocalServer

FULL_ENTRY = {
    "id": "Claude-Sonnet-4", "object": "model", "created": 1747872000000,
    "description": "Anthropic's  balanced\nmodel", "owned_by": "Anthropic", "root": "Claude-Sonnet-4",
    "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"],
                     "modality": "text,image->text"},
    "supported_features": ["tools"],
    "pricing": {"prompt": "0.000003", "completion": "0.000015", "image": None, "request": None,
                "input_cache_read": "0.0000003", "input_cache_write": None},
    "context_window": {"context_length": 200000, "max_output_tokens": 64000}, "context_length": 200000,
    "metadata": {"display_name": "Claude Sonnet 4", "image": None, "url": "https://poe.com/Claude-Sonnet-4"},
}


@pytest.fixture
def fresh_catalog(activated: LocalServer) -> Iterator[LocalServer]:
    """This process points at the local server, with no catalogue cached anywhere."""
    catalog.clear_cache()
    current().state(resolve._Noted).clear()  # each name correction is noted again
    saved = (settings.default_model, list(settings.compare_models))
    activated.reset()
    yield activated
    catalog.clear_cache()
    settings.default_model, settings.compare_models = saved[0], saved[1]


def catalogue_requests(server: LocalServer) -> int:
    return len(server.requests("/v1/models"))


# -- parsing ---------------------------------------------------------------------------------------

def test_parse_full_entry() -> None:
    (record,) = catalog.parse_models({"object": "list", "data": [FULL_ENTRY]})
    assert set(record) == set(catalog.COLUMNS)
    assert record["id"] == "Claude-Sonnet-4" and record["display_name"] == "Claude Sonnet 4"
    assert record["description"] == "Anthropic's balanced model"  # whitespace folded
    assert (record["input_modalities"], record["output_modalities"]) == ("text,image", "text")
    assert (record["context_window"], record["max_output_tokens"]) == (200000, 64000)
    assert record["prompt_price"] == pytest.approx(3e-6) and record["cache_read_price"] == pytest.approx(3e-7)
    assert record["image_price"] is None and record["request_price"] is None
    assert record["created"] == datetime(2025, 5, 22, tzinfo=timezone.utc)
    assert record["features"] == "tools"


def test_parse_is_lenient_with_missing_null_and_odd_fields() -> None:
    payload = {"data": [
        {"id": "Bare"},  # nothing but an id
        {"id": "Nulls", "created": None, "description": None, "owned_by": None, "architecture": None,
         "pricing": None, "context_window": None, "metadata": None, "supported_features": None},
        {"id": "Odd", "created": "soon", "description": 42, "architecture": {"modality": "text->image"},
         "pricing": {"prompt": "free", "request": 0.04}, "context_window": {"context_length": "n/a"},
         "context_length": 8192, "metadata": {"display_name": ""}},
        {"id": "Seconds", "created": 1700000000, "context_length": 4096},
        {"object": "model"}, {"id": ""}, {"id": None}, "junk", None,  # skipped: no usable id
    ]}
    records = {r["id"]: r for r in catalog.parse_models(payload)}
    assert list(records) == ["Bare", "Nulls", "Odd", "Seconds"]
    for name in ("Bare", "Nulls"):
        r = records[name]
        assert r["display_name"] == name and r["owned_by"] == "" and r["description"] == ""
        assert r["input_modalities"] == r["output_modalities"] == ""
        assert r["context_window"] is None and r["created"] is None and r["prompt_price"] is None
    odd = records["Odd"]
    assert (odd["input_modalities"], odd["output_modalities"]) == ("text", "image")  # from "modality"
    assert odd["created"] is None and odd["description"] == "" and odd["display_name"] == "Odd"
    assert odd["prompt_price"] is None and odd["request_price"] == pytest.approx(0.04)
    assert odd["context_window"] is None  # "n/a" inside context_window wins over the top-level field
    assert records["Seconds"]["created"] == datetime.fromtimestamp(1700000000, tz=timezone.utc)
    assert records["Seconds"]["context_window"] == 4096
    assert catalog.parse_models({"data": "nope"}) == [] and catalog.parse_models(None) == []


def test_closest_matches_and_messages() -> None:
    ids = ["Claude-Sonnet-4", "Claude-Haiku-3.5", "GPT-5", "GPT-4o-mini", "Gemini-2.5-Pro"]
    assert str(resolve.unknown_model_error("claude-sonet-4", ids)) == \
        "unknown model 'claude-sonet-4'; did you mean Claude-Sonnet-4?"
    assert resolve.closest("gpt", ids) == ["GPT-5", "GPT-4o-mini"]  # contained, when nothing is close
    assert str(resolve.unknown_model_error("zzz", ids)) == "unknown model 'zzz'; %poe models lists the 5 models"
    ambiguous = resolve.unknown_model_error("gpt-x", ["GPT-X", "Gpt-X"], ambiguous=["GPT-X", "Gpt-X"])
    assert str(ambiguous) == "model name 'gpt-x' is ambiguous; did you mean GPT-X or Gpt-X?"
    assert isinstance(ambiguous, E.UnknownModelError)


# -- fetching, the DataFrame, caching --------------------------------------------------------------

def test_models_dataframe_from_the_local_server(fresh_catalog: LocalServer) -> None:
    df = listing.models()
    assert list(df.columns) == catalog.COLUMNS
    # asked by the display name when it is the id in another case; by the id when no display name is listed
    assert {"EchoBot", "Claude-Sonnet-4", "Imagen-4", "veo-3", "ElevenLabs-v3"} <= set(df["id"])
    assert df.set_index("id").loc["Claude-Sonnet-4", "api_id"] == "claude-sonnet-4"
    rows = df.set_index("id")
    assert str(df["created"].dtype).startswith("datetime64") and str(df["created"].dt.tz) == "UTC"
    assert rows.loc["EchoBot", "created"].year == 2025
    assert rows.loc["Claude-Sonnet-4", "owned_by"] == "Anthropic"
    assert rows.loc["Claude-Sonnet-4", "context_window"] == 200_000
    assert rows.loc["Imagen-4", "output_modalities"] == "image"
    assert rows.loc[["Imagen-4", "Llama-3.1-405B"], ["prompt_price", "request_price"]].isna().all().all()  # null pricing
    assert rows["context_window"].isna()["Llama-3.1-405B"]  # context window left out
    assert rows.loc["FLUX-pro-1.1", "description"] == ""  # description left out
    assert rows.loc["veo-3", "display_name"] == "veo-3"  # display name left out
    assert rows["created"].isna()["ElevenLabs-v3"]  # created null
    assert rows.loc["EchoBot", "request_price"] == pytest.approx(10 * 0.00003)
    assert df.attrs["source"].endswith("/v1/models")
    assert list(listing.models(search="google video")["id"]) == ["Gemini-2.5-Pro", "veo-3"]


def test_test_only_bots_are_listed_last_and_only_when_asked(fresh_catalog: LocalServer) -> None:
    shown, every = list(listing.models()["id"]), listing.models(all=True)
    assert not {"DropBot", "StallBot", "FlakyBot", "HeaderEchoBot", "SlowBot-1", "PricedBot"} & set(shown)
    assert {"DropBot", "SlowBot-8", "PricedBot"} <= set(every["id"]) and len(every) > len(shown)
    assert shown.index("Claude-Sonnet-4") < shown.index("Imagen-4") < shown.index("EchoBot")  # real ones first
    assert set(every["owned_by"][len(shown):]) == {TEST_OWNER}  # the test bots come last
    assert resolve.resolve_name("dropbot") == "DropBot"  # still usable by name
    records = [{"id": i, "owned_by": o} for i, o in
               (("A", TEST_OWNER), ("B", LOCAL_OWNER), ("C", "Someone"), ("D", ""))]
    assert [r["id"] for r in listing.for_listing(records)] == ["C", "D", "B"]
    assert [r["id"] for r in listing.for_listing(records, all=True)] == ["C", "D", "B", "A"]


def test_catalogue_is_cached_in_memory_and_on_disk(fresh_catalog: LocalServer, poe_home: Path) -> None:
    server = fresh_catalog
    listing.models()
    listing.models()
    assert catalogue_requests(server) == 1  # the second call used memory
    (path,) = (poe_home / "cache").glob("models-*.json")
    assert json.loads(path.read_text())["root"] == settings.root
    catalog.clear_cache()  # a new kernel: memory empty, disk warm
    assert "EchoBot" in set(listing.models()["id"])
    assert catalogue_requests(server) == 1
    listing.models(refresh=True)
    assert catalogue_requests(server) == 2
    saved = json.loads(path.read_text())  # an old cache is fetched again
    saved["fetched_at"] -= catalog.MAX_AGE + 1
    path.write_text(json.dumps(saved))
    catalog.clear_cache()
    listing.models()
    assert catalogue_requests(server) == 3


def test_unreachable_catalogue_falls_back(fresh_catalog: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server = fresh_catalog
    monkeypatch.setattr(settings, "retry_backoff", 0.01)
    server.fail_next("/v1/models", 503, count=settings.max_retries + 1)  # retried like every request
    with pytest.raises(E.ServerError, match=r"\(HTTP 503\) reading the model catalogue"):
        listing.models()
    # a request does not wait on a catalogue that just failed: the name goes as typed
    assert resolve.resolve_name("NoSuchModel-9") == "NoSuchModel-9"
    assert catalogue_requests(server) == settings.max_retries + 1
    listing.models(refresh=True)  # it is back
    server.fail_next("/v1/models", 500, count=settings.max_retries + 1)
    snapshot = catalog.cached()
    snapshot.fetched_at -= catalog.MAX_AGE + 1  # stale, and refreshing fails: the old copy is used
    assert "EchoBot" in set(listing.models()["id"])


def test_no_server_at_all_sends_names_as_typed(fresh_catalog: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("POE_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(settings, "retry_backoff", 0.01)
    assert resolve.resolve_name("claude-sonet-4") == "claude-sonet-4"
    with pytest.raises(E.ServerError, match="cannot connect to read the model catalogue: the local server at .* is not running"):
        listing.models(refresh=True)


# -- name resolution -------------------------------------------------------------------------------

def test_resolution_corrects_case_once_and_rejects_unknown_names(
        fresh_catalog: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert resolve.resolve_name("EchoBot") == "EchoBot"
    assert resolve.resolve_name("claude-sonnet-4") == "Claude-Sonnet-4"  # the catalogue id: no note
    assert resolve.resolve_name("CLAUDE-Sonnet-4") == "Claude-Sonnet-4"
    assert resolve.resolve_name("CLAUDE-Sonnet-4") == "Claude-Sonnet-4"
    printed = capsys.readouterr()
    notes = printed.out.strip().splitlines()
    assert printed.err == ""  # a note on stdout: JupyterLab shows stderr like an error
    assert notes == ["note: using model 'Claude-Sonnet-4' for 'CLAUDE-Sonnet-4' (model names are case-sensitive)"]
    with pytest.raises(E.UnknownModelError) as caught:
        resolve.resolve_name("claude-sonet-4")
    assert str(caught.value) == "unknown model 'claude-sonet-4'; did you mean Claude-Sonnet-4?"
    assert catalogue_requests(fresh_catalog) == 1


def test_unknown_name_refetches_an_older_catalogue_once(fresh_catalog: LocalServer) -> None:
    listing.models()
    catalog.cached().fetched_at -= catalog.RECHECK_AFTER + 1  # a model may have appeared since
    with pytest.raises(E.UnknownModelError):
        resolve.resolve_name("Brand-New-Model")
    assert catalogue_requests(fresh_catalog) == 2
    with pytest.raises(E.UnknownModelError):
        resolve.resolve_name("Brand-New-Model")  # the catalogue is fresh now: no third fetch
    assert catalogue_requests(fresh_catalog) == 2


# -- aliases and the session's choice --------------------------------------------------------------

def test_aliases_are_saved_in_the_config_file(fresh_catalog: LocalServer, poe_home: Path) -> None:
    config = poe_home / "config.json"
    poe_home.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"someone_elses": {"keep": True}}))
    assert choosing.alias("sonnet", "claude-sonnet-4") == "Claude-Sonnet-4"
    saved = json.loads(config.read_text())
    assert saved == {"aliases": {"sonnet": "Claude-Sonnet-4"}, "someone_elses": {"keep": True}}
    assert resolve.resolve_name("sonnet") == "Claude-Sonnet-4"
    assert resolve.resolve_name("SONNET") == "Claude-Sonnet-4"
    with pytest.raises(E.UnknownModelError, match="did you mean Claude-Sonnet-4"):
        choosing.alias("typo", "claude-sonet-4")
    with pytest.raises(E.PoeUsageError, match="already a model name"):
        choosing.alias("gpt-5", "Claude-Sonnet-4")
    with pytest.raises(E.PoeUsageError, match="invalid alias"):
        choosing.alias("two words", "GPT-5")
    assert aliases.remove_alias("sonnet") and not aliases.remove_alias("sonnet")
    assert json.loads(config.read_text())["aliases"] == {}
    config.write_text("{ not json")
    with pytest.raises(E.ConfigError, match="config.json"):
        aliases.aliases()


def test_use_sets_default_model_or_comparison_set(fresh_catalog: LocalServer) -> None:
    assert choosing.use("echobot") == ["EchoBot"]
    assert settings.default_model == "EchoBot"
    choosing.use("SlowBot-1", "slowbot-2", "SlowBot-1")
    assert settings.compare_models == ["SlowBot-1", "SlowBot-2"] and settings.default_model == "EchoBot"
    with pytest.raises(E.UnknownModelError):
        choosing.use("Echobott")
    assert settings.default_model == "EchoBot"


def test_widgets_outside_a_kernel_fall_back_to_text(fresh_catalog: LocalServer) -> None:
    from poe_magic.widgets.chat_panel import chat
    from poe_magic.widgets.picker import model_picker

    settings.default_model = "EchoBot"
    picker = model_picker()
    assert "Current default model: EchoBot" in repr(picker) and "%poe use MODEL" in repr(picker)
    listed = [value for _, value in picker.list.options]
    assert listed[0] == "Claude-Sonnet-4" and listed.index("GPT-5") < listed.index("EchoBot")  # real ones first
    assert "DropBot" not in listed and picker.list.value == "EchoBot"
    settings.default_model = "SlowBot-1"  # a test bot chosen by name stays visible and selected
    assert [value for _, value in model_picker().list.options][0] == "SlowBot-1"
    settings.default_model = "EchoBot"
    panel = chat()
    offered = [value for _, value in panel.model.options]
    assert offered[0] == "Claude-Sonnet-4" and "SlowBot-1" not in offered and panel.model.value == "EchoBot"
    assert chat("SlowBot-1").model.value == "SlowBot-1"  # a test bot asked for by name is offered
    assert panel.scroller.layout.max_height == "32em" and panel.scroller.layout.overflow == "auto"
    assert panel.scroller.children == (panel.conversation,) and panel.scroller.layout.flex_flow == "column-reverse"
    bundle = picker._repr_mimebundle_()
    assert bundle["text/plain"] == repr(picker) and "application/vnd.jupyter.widget-view+json" in bundle
    picker.list.value = "GPT-5"  # what a click in the list does
    assert settings.default_model == "GPT-5"
    choosing.use("MarkdownBot")  # and the list follows %poe use
    assert picker.list.value == "MarkdownBot"
    assert "%%poe MODEL" in repr(chat())


def test_widgets_open_without_a_model_list(fresh_catalog: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server without /v1/models: the chat offers the default model and still chats; the
    picker says why its list is empty instead of failing."""
    from poe_magic.widgets.chat_panel import chat
    from poe_magic.widgets.picker import model_picker

    settings.default_model = "EchoBot"
    monkeypatch.setattr(settings, "retry_backoff", 0.01)
    tries = settings.max_retries + 1  # each catalogue fetch is retried like every request
    fresh_catalog.fail_next("/v1/models", 503, count=2 * tries)
    panel = chat()
    assert panel.model.options == (("EchoBot", "EchoBot"),) and panel.model.value == "EchoBot"
    assert "cannot list the models" in panel.status.value and "chatting with EchoBot" in panel.status.value
    reply = panel.submit("hello without a catalogue")
    panel.wait(30)
    assert reply is not None and reply.ok and "EchoBot received" in reply.text
    assert "1 turn" in panel.status.value and "cannot list" not in panel.status.value
    picker = model_picker()
    assert picker.list.options == () and "cannot list the models" in picker.status.value
    assert "%poe use MODEL" in picker.status.value and "EchoBot" in picker.status.value
    settings.default_model = ""  # no default either: the panel says how to name a model
    fresh_catalog.fail_next("/v1/models", 503, count=tries)
    assert "no model to offer; open the panel with a model name" in chat().status.value


# -- in a real kernel ------------------------------------------------------------------------------

def one_line_error(result, name: str) -> str:
    assert result.error is not None and result.error["ename"] == name, result.error
    assert len(result.error["traceback"]) == 1, result.error["traceback"]
    return result.error["traceback"][0]


def test_poe_models_table_and_filter(kernel: Kernel) -> None:
    everything = kernel.run_ok("%poe models").displays()["#0"]
    assert "EchoBot" in everything["text/html"] and "Imagen-4" in everything["text/html"]
    images = kernel.run_ok("%poe models image").displays()["#0"]
    html = images["text/html"]
    assert "Imagen-4" in html and "Nano-Banana" in html and "matching &#x27;image&#x27;" in html
    assert "EchoBot" not in html
    assert images["text/plain"].splitlines()[1].split() == ["model", "owner", "modalities", "context", "price"]
    assert "Anthropic" in kernel.run_ok("%poe models anthropic").displays()["#0"]["text/plain"]
    assert "DropBot" not in everything["text/html"] and "test bots hidden: --all" in everything["text/plain"]
    # prices keep their dollar signs: MathJax (JupyterLab, Notebook) is told to skip the table
    assert "$3.00 in / $15.00 out per M tokens" in everything["text/html"]
    assert everything["text/html"].startswith("<div class='poe-models mathjax_ignore tex2jax_ignore'>")
    every = kernel.run_ok("%poe models --all").displays()["#0"]["text/plain"]
    assert "DropBot" in every and "hidden" not in every
    assert "DropBot" in kernel.run_ok("%poe models -a drop").displays()["#0"]["text/plain"]
    assert "No model matches" in kernel.run_ok("%poe models qqqzzz").displays()["#0"]["text/plain"]
    assert "--refresh" in one_line_error(kernel.run("%poe models --bogus"), "PoeUsageError")


def test_poe_use_sets_the_default_for_the_next_cell(kernel: Kernel, server: LocalServer) -> None:
    result = kernel.run_ok("%poe use markdownBOT")
    assert "Default model: MarkdownBot" in result.stdout
    assert "note: using model 'MarkdownBot' for 'markdownBOT'" in result.stdout and result.stderr == ""
    assert "note" not in kernel.run_ok("%poe use markdownbot").stdout  # the catalogue's own id: no note
    assert kernel.value("get_ipython().magics_manager.registry['PoeMagics'].default_model") == "MarkdownBot"
    assert kernel.run_ok("%%poe\nanything").markdown()[0].startswith("# A Markdown answer")
    result = kernel.run_ok("%poe use SlowBot-1 SlowBot-2 slowbot-3")
    assert "Comparison set: SlowBot-1, SlowBot-2, SlowBot-3" in result.stdout
    assert kernel.value("__import__('poe_magic').settings.compare_models") == ["SlowBot-1", "SlowBot-2", "SlowBot-3"]


def test_unknown_model_names_get_suggestions_and_send_nothing(kernel: Kernel, server: LocalServer) -> None:
    server.reset()
    line = one_line_error(kernel.run("%%poe claude-sonet-4\nhello"), "UnknownModelError")
    assert line.endswith("unknown model 'claude-sonet-4'; did you mean Claude-Sonnet-4?")
    line = one_line_error(kernel.run("%poe use gpt-6"), "UnknownModelError")
    assert "did you mean GPT-5" in line
    assert server.requests("/bot/") == []
    corrected = kernel.run_ok("%%poe ECHOBOT\nhello")
    assert "EchoBot received" in corrected.markdown()[0]
    assert "note: using model 'EchoBot' for 'ECHOBOT'" in corrected.stdout and corrected.stderr == ""
    by_id = kernel.run_ok("%%poe echobot\nhello")  # the catalogue's lowercase id: sent by the bot's name
    assert "EchoBot received" in by_id.markdown()[0] and "note" not in by_id.stdout
    assert all(r["path"].startswith(("/bot/EchoBot", "/bot/Claude")) for r in server.requests("/bot/"))


def test_aliases_in_the_kernel(kernel: Kernel) -> None:
    result = kernel.run_ok("%poe alias echo EchoBot")
    assert "Alias echo → EchoBot" in result.stdout and "config.json" in result.stdout
    home = Path(kernel.value("str(__import__('poe_magic').settings.home)"))
    assert json.loads((home / "config.json").read_text())["aliases"]["echo"] == "EchoBot"
    assert "EchoBot received" in kernel.run_ok("%%poe echo\nvia an alias").markdown()[0]
    assert "via a one-liner" in kernel.run_ok("%poe echo via a one-liner").markdown()[0]
    assert "| `echo` | `EchoBot` |" in kernel.run_ok("%poe alias").markdown()[0]
    assert "subcommand" in one_line_error(kernel.run("%poe alias models EchoBot"), "PoeUsageError")
    kernel.run_ok("%poe alias -d echo")
    assert "no alias 'echo'" in one_line_error(kernel.run("%poe alias echo"), "PoeUsageError")


def test_pick_and_chat_in_the_kernel(kernel: Kernel) -> None:
    shown = kernel.run_ok("%poe pick").displays()["#0"]
    assert "application/vnd.jupyter.widget-view+json" in shown
    assert shown["text/plain"].startswith("Model picker (")  # what a frontend without widgets shows
    kernel.run_ok("p = _\np.list.value = 'EchoBot'")  # the list's value, as a click sets it
    assert "EchoBot received" in kernel.run_ok("%%poe\nwho answers?").markdown()[0]
    assert "--multiple" in one_line_error(kernel.run("%poe pick --many"), "PoeUsageError")

    chat = kernel.run_ok("c = __import__('poe_magic').chat('SlowBot')\nc").displays()["#0"]
    assert chat["text/plain"].startswith("Chat panel")
    started = kernel.run_ok("r = c.submit('chunks=100 delay=0.05')\nprint(c.busy, c.stop.disabled)")
    assert started.stdout.split() == ["True", "False"]  # the cell returned while the answer streams
    assert kernel.value("c.submit('one more') is None and len(c.replies)") == 1  # one answer at a time...
    assert "still streaming" in kernel.value("c.status.value")  # ...and the panel says why
    time.sleep(0.5)
    stopped = kernel.run_ok("c.interrupt(); c.wait(10)\n"
                            "print(r.interrupted, r.text.startswith('word0 '), 'word99' in r.text, c.busy)")
    assert stopped.stdout.split() == ["True", "True", "False", "False"]
    kernel.run_ok("c.model.value = 'EchoBot'\nr2 = c.submit('and now?'); c.wait(30)")
    received = json.loads(kernel.value("r2.text.split('```json')[1].split('```')[0]"))
    assert [t["role"] for t in received["turns"]] == ["user", "bot", "user"]  # the history went along
    assert kernel.value("[r2.ok, len(c.conversation.children), c.send_button.disabled]") == [True, 4, False]
    assert "2 turns" in kernel.value("c.status.value")


def test_chat_panel_system_prompt_and_shared_thread_in_the_kernel(kernel: Kernel, server: LocalServer) -> None:
    """The panel's system prompt reaches the server, and ``chat(thread=NAME)`` continues and
    records into the thread that ``%%poe --chat NAME`` cells use, both ways."""
    received = "json.loads(r.text.split('```json', 1)[1].rsplit('```', 1)[0])"  # (answers quote answers)
    kernel.run_ok("import json, poe_magic\n%poe reset --all")
    kernel.run_ok('%%poe EchoBot --chat shared -s "Answer like a pirate"\nfirst, from a cell')
    # the magic's options: a thread name and a quoted system prompt
    panel = kernel.run_ok("%poe chat --thread shared").displays()["#0"]
    assert panel["text/plain"].startswith("Chat panel (thread 'shared')")
    assert panel["text/plain"].endswith("continue this thread with %%poe --chat shared.")
    kernel.run_ok("p = _")
    # opened on the thread: its model, its system prompt (the field shows it), its turn drawn
    assert kernel.value("[p.model.value, p.system.value, len(p.conversation.children), p.system_box.selected_index]") == [
        "EchoBot", "Answer like a pirate", 2, 0]
    assert "1 turn in thread 'shared'" in kernel.value("p.status.value")
    kernel.run_ok("p.system.value = 'Answer in French'\nr = p.submit('second, from the panel'); p.wait(30)")
    got = kernel.value(received)
    assert got["system"] == "Answer in French"  # the field, as shown
    assert [t["role"] for t in got["turns"]] == ["user", "bot", "user"]  # the cell's turn went along
    assert [t["content"] for t in got["turns"]][::2] == ["first, from a cell", "second, from the panel"]
    assert "**system**: Answer like a pirate" in got["turns"][1]["content"]  # the cell's answer
    assert kernel.value("[r.thread, len(poe_magic.get_thread('shared')), poe_magic.get_thread('shared').system]") == [
        "shared", 2, "Answer in French"]
    # ...and a cell continues from the panel's turn, with the panel's system prompt
    cell = kernel.run_ok("%%poe --chat shared\nthird, from a cell again").markdown()[0]
    assert "received 5 message(s)" in cell and "**system**: Answer in French" in cell
    # the panel draws the cell's turn at its next Send, and sends it as history
    kernel.run_ok("r = p.submit('fourth'); p.wait(30)")
    assert [t["content"] for t in kernel.value(received)["turns"]][::2] == [
        "first, from a cell", "second, from the panel", "third, from a cell again", "fourth"]
    assert kernel.value("len(p.conversation.children)") == 8 and "4 turns in thread 'shared'" in kernel.value("p.status.value")

    # a stopped answer is kept as a partial turn, as threads.py marks it for cells
    kernel.run_ok("s = poe_magic.chat('SlowBot', thread='shared')\nr = s.submit('chunks=200 delay=0.05')")
    assert kernel.value("[s.thread_name, s.model.value]") == ["shared", "SlowBot"]  # a second panel on it
    time.sleep(0.5)
    kernel.run_ok("s.interrupt(); s.wait(10)")
    assert kernel.value("[r.interrupted, poe_magic.get_thread('shared').turns[-1].partial, "
                        "len(poe_magic.get_thread('shared'))]") == [True, True, 5]
    assert "(1 partial)" in kernel.run_ok("%poe threads").markdown()[0]

    # the default is a private thread: history and system prompt of its own, listed nowhere
    kernel.run_ok("q = poe_magic.chat('EchoBot', system='Be brief')\nr = q.submit('one'); q.wait(30)\n"
                  "r = q.submit('two'); q.wait(30)")
    got = kernel.value(received)
    assert got["system"] == "Be brief" and [t["content"] for t in got["turns"]][::2] == ["one", "two"]
    assert kernel.value("[r.thread, sorted(t.name for t in poe_magic.list_threads()), len(q.thread)]") == [
        None, ["shared"], 2]
    # emptying the field sends no system prompt at all; New chat starts over and keeps 'shared'
    kernel.run_ok("q.system.value = ''\nr = q.submit('three'); q.wait(30)")
    assert kernel.value(received)["system"] is None and kernel.value("q.system_box.get_title(0)") == "System prompt (none)"
    kernel.run_ok("p.reset()\nr = p.submit('fresh'); p.wait(30)")
    assert [t["content"] for t in kernel.value(received)["turns"]] == ["fresh"]
    assert kernel.value("[p.thread_name, len(poe_magic.get_thread('shared'))]") == [None, 5]
    assert kernel.run_ok("%poe chat EchoBot --chat shared").displays()["#0"]["text/plain"].startswith(
        "Chat panel (thread 'shared')")  # --chat works as in %%poe
    assert "usage: %poe chat" in one_line_error(kernel.run("%poe chat EchoBot GPT-5"), "PoeUsageError")
    assert "--chat takes a thread name" in one_line_error(kernel.run("%poe chat --thread 'no spaces'"),
                                                           "PoeUsageError")
