"""Unit tests for the prompting pieces (interpolation, cache keys, code extraction, multipart
parsing), and the Python API (ask/send with chat=, attach=, cache=) against the local server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
from protocols import both_protocols

from poe_magic.base import errors as E
from poe_magic.base.config import Settings
from poe_magic.prompting.answer_cache import request_key
from poe_magic.prompting.attachments import prepare
from poe_magic.prompting.formats import extract_code
from poe_magic.prompting.interpolation import MAX_TABLE_COLUMNS, frame_markdown, interpolate
from poe_magic.server.launch import LocalServer
from poe_magic.server.uploads import parse_multipart
from poe_magic.wire.request import build_request

# -- interpolation ------------------------------------------------------------------------------

NS = {"name": "Ada", "n": 3, "d": {"k": "v", "x y": 1}, "items": ["a", "b"], "In": ["", "x = 1"], "Out": {1: 42}}


@pytest.mark.parametrize("text, expected", [
    ("hi {name}", "hi Ada"),
    ("{n} + {n}", "3 + 3"),
    ("{d['k']} {d[\"x y\"]} {items[-1]}", "v 1 b"),
    ("code {In[1]} gave {Out[1]}", "code x = 1 gave 42"),
    ("{name.upper}", str("Ada".upper)),  # attributes work (here a bound method's str)
    ("{{name}} and {{ {name} }}", "{name} and { Ada }"),
    ('{"json": {"nested": 1}}', '{"json": {"nested": 1}}'),  # not a name: left as written
    ("a lone { brace and } another", "a lone { brace and } another"),
    ("set {1, 2} and f(x) { return x; }", "set {1, 2} and f(x) { return x; }"),
], ids=lambda value: value if "object at 0x" not in value else "bound method")  # ids stable across processes
def test_interpolate_cases(text: str, expected: str) -> None:
    assert interpolate(text, NS) == expected


@pytest.mark.parametrize("text, message", [
    ("{missing}", "{missing}: no variable named 'missing' (nothing was sent); define it, write {{missing}}"),
    ("{In[7]}", "{In[7]}: there is no In[7] (no such cell)"),
    ("{Out[2]}", "{Out[2]}: there is no Out[2] (no such cell output)"),
    ("{d['nope']}", "{d['nope']}: no key 'nope'"),
    ("{name.nope}", "{name.nope}: 'str' object has no attribute 'nope'"),
])
def test_interpolate_errors_name_the_field(text: str, message: str) -> None:
    with pytest.raises(E.PoeUsageError) as caught:
        interpolate(text, NS)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_dataframe_table_limits_and_series() -> None:
    wide = pd.DataFrame([[i * j for j in range(30)] for i in range(3)], columns=[f"c{j}" for j in range(30)])
    table = frame_markdown(wide)
    assert table.splitlines()[0].count("|") == MAX_TABLE_COLUMNS + 2  # index column + 20 columns
    assert table.endswith("(table cut: showing the first 20 of 30 columns)")
    series = pd.Series([1.5, 2.5], index=pd.Index(["a", "b"], name="key"), name="val")
    assert interpolate("x {s} y", {"s": series}) == "x \n| key | val |\n|---|---|\n| a | 1.5 |\n| b | 2.5 |\n y"
    pipes = pd.DataFrame({"t": ["a|b", "line\nbreak"]})
    assert "| 0 | a\\|b |" in frame_markdown(pipes) and "| 1 | line break |" in frame_markdown(pipes)
    assert frame_markdown(pipes.rename_axis("in|dex")).startswith("| in\\|dex | t |\n")  # the index name too


# -- cache keys ---------------------------------------------------------------------------------

def test_cache_key_covers_what_decides_the_answer_and_never_the_key(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("POE_API_KEY", "pk-FAKE-cache-0123456789")
    base = dict(system="s", temperature=0.2, stop=["END"], params={"a": 1})
    key = request_key(build_request("hi", "GPT-5", **base))
    assert key == request_key(build_request("hi", "GPT-5", **base)), "stable"
    variants = [build_request("hi", "Grok-4", **base), build_request("hi!", "GPT-5", **base),
                build_request("hi", "GPT-5", **{**base, "system": "t"}),
                build_request("hi", "GPT-5", **{**base, "temperature": 0.3}),
                build_request("hi", "GPT-5", **{**base, "stop": ["STOP"]}),
                build_request("hi", "GPT-5", **{**base, "params": {"a": 2}})]
    assert len({key, *(request_key(v) for v in variants)}) == 7
    other_server = Settings(base_url="http://127.0.0.1:1")
    assert request_key(build_request("hi", "GPT-5", **base), other_server) != key
    monkeypatch.setenv("POE_API_KEY", "pk-FAKE-cache-other-key-999")
    assert request_key(build_request("hi", "GPT-5", **base)) == key, "the API key plays no part"
    # attachments count by their bytes, not their path or upload URL
    one, two = tmp_path / "a.txt", tmp_path / "sub" / "a.txt"
    two.parent.mkdir()
    one.write_text("same")
    two.write_text("same")
    keyed = [request_key(build_request("hi", "GPT-5", attachments=prepare(p))) for p in (one, two)]
    assert keyed[0] == keyed[1] != request_key(build_request("hi", "GPT-5"))
    two.write_text("different")
    assert request_key(build_request("hi", "GPT-5", attachments=prepare(two))) != keyed[0]


# -- formats, uploads ---------------------------------------------------------------------------

def test_extract_code() -> None:
    assert extract_code("Here:\n```python\nx = 1\n```\nand\n```\ny = 2\n```\nbye") == "x = 1\n\ny = 2"
    assert extract_code("print('no fences')\n") == "print('no fences')"
    assert extract_code("```python\npartial = True") == "partial = True"  # an unclosed fence


def test_parse_multipart_keeps_binary_bytes_exactly() -> None:
    data = bytes(range(256)) * 3 + b"\r\n--x\r\n"
    request = httpx.Request("POST", "http://h/", files={"file": ("ünï.bin", data)}, data={"note": "hi"})
    fields = parse_multipart(request.read(), request.headers["content-type"])
    assert fields["file"] == ("ünï.bin", "application/octet-stream", data)
    assert fields["note"] == (None, "", b"hi")


def test_upload_route_checks_the_bare_key_and_serves_the_file(server: LocalServer) -> None:
    url = server.url + "/poe_api/file_upload_3RD_PARTY_POST"
    files = {"file": ("hello.txt", b"hello")}
    assert httpx.post(url, files=files, headers={"Authorization": "wrong"}).status_code == 401
    assert httpx.post(url, files=files).json()["error"]["type"] == "authentication_error"
    for auth in (server.key, f"Bearer {server.key}"):
        answer = httpx.post(url, files=files, headers={"Authorization": auth}).json()
        assert set(answer) == {"attachment_url", "mime_type"} and answer["mime_type"] == "text/plain"
        served = httpx.get(answer["attachment_url"])  # public, like the real CDN
        assert served.content == b"hello" and served.headers["content-type"].startswith("text/plain")
    assert httpx.post(url, data={"x": "1"}, headers={"Authorization": server.key}).status_code == 400


def test_upload_url_follows_the_server_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POE_BASE_URL", raising=False)
    assert Settings().upload_url == "https://www.quora.com/poe_api/"
    assert Settings(base_url="http://127.0.0.1:8765/").upload_url == "http://127.0.0.1:8765/poe_api/"


# -- the Python API -----------------------------------------------------------------------------

def _echo(reply) -> dict:
    return json.loads(reply.text.split("```json\n")[1].split("\n```")[0])


# the bot protocol only: a text file rides on the message there, while the openai protocol sends
# files other than images as a link in the text (its image parts: tests/test_protocols.py)
def test_python_api_threads_attachments_and_cache(activated: LocalServer, tmp_path: Path) -> None:
    import poe_magic
    from poe_magic.prompting.asking import ask

    poe_magic.reset_thread(all=True)
    ask("first", "EchoBot", chat="py", system="sys", stream=False)
    note = tmp_path / "note.md"
    note.write_text("# hi")
    second = ask("second", chat="py", attach=[note], stream=False)  # model and system from the thread
    seen = _echo(second)
    assert seen["bot"] == "EchoBot" and seen["system"] == "sys"
    assert [t["content"] for t in seen["turns"] if t["role"] == "user"] == ["first", "second"]
    assert [a["name"] for a in seen["attachments"]] == ["note.md"]
    thread = poe_magic.get_thread("py")
    assert len(thread) == 2 and thread.model == "EchoBot" and second.thread == "py"
    assert [type(a).__name__ for a in thread.turns[1].attachments] == ["LocalFile"]  # bytes, not a URL
    with pytest.raises(E.PoeUsageError, match="--attach: no such file"):
        ask("x", "EchoBot", attach=tmp_path / "missing.pdf", stream=False)
    assert len(thread) == 2

    activated.reset()
    first = ask("cached?", "EchoBot", cache=True, stream=False)
    again = ask("cached?", "EchoBot", cache=True, stream=False)
    assert (first.cached, again.cached, again.text == first.text) == (False, True, True)
    assert len(activated.requests("/bot/")) == 1
    assert poe_magic.clear_cache() == 1


@both_protocols
def test_python_api_returned_images_are_listed_and_fetchable(activated: LocalServer, tmp_path: Path) -> None:
    from poe_magic.prompting.asking import ask

    reply = ask("mode=both a square", "ImageBot", stream=False)
    (image,) = reply.attachments  # the file event and the link are the same image
    assert image.content_type == "image/png" and image.data.startswith(b"\x89PNG")
    assert image.save(tmp_path).read_bytes() == image.data
    assert "image/png" in image._repr_mimebundle_()
    with pytest.raises(E.PoeUsageError, match="--format must be one of"):
        ask("hi", "EchoBot", format="pdf", stream=False)
