"""Property-based hardening (issue 16): random ``%%poe`` option lines and cells full of braces,
run through the real magic in an IPython shell in this process, against the hostile server's
plain ``Echo`` bot. Whatever the input, the only exceptions are the package's one-line errors
(PoeMagicError) or IPython's UsageError for a malformed line, and an input that errors sends
nothing (the server's request log does not grow)."""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_server import HostileServer, hostile_server
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from poe_magic.base import errors as E
from poe_magic.base.config import settings
from poe_magic.prompting.interpolation import interpolate

KEY = "pk-PROPS-0123456789-PPKEYPP-abcdefWXYZ"
TOKENS = ["-o", "x", "answer", "__builtins__", "Out", "True", "--temperature", "nan", "inf", "1e308", "-1", "0.5",
          "--param", "a=b", "a=", "=", "n=1e999", "--timeout", "0", "-5", "--system", "{x}", "{", "}", "{{", "}}",
          "{d['k'][9]}", "{s.upper}", "--cache", "--compare", "--", "--no-interpolate", "Echo", "'", '"', "\\",
          "--attach", "/nonexistent/file", "--runs", "999999999", "--stop", "--format", "html", "--thread",
          "--chat", "-s", "--force", "\x00", "\ud800", "é", "--temprature"]
NAMESPACE_SRC = "x = 1\nd = {'k': [1, 2]}\ns = 'text'\nclass Boom:\n    def __str__(self): raise RuntimeError('no')\nb = Boom()\n"

words = st.lists(st.sampled_from(TOKENS) | st.text(alphabet=string.printable, max_size=6), max_size=8)
bodies = st.lists(st.sampled_from(list("{}[]'\". ab_x0sdk\n") + ["{x}", "{d}", "{b}", "{s.nope}", "{d['k'][9]}"]),
                  max_size=30).map("".join)


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, HostileServer]]:
    from IPython.core.interactiveshell import InteractiveShell

    with hostile_server() as app, pytest.MonkeyPatch.context() as mp:
        mp.setenv("POE_BASE_URL", app.url)
        mp.setenv("POE_API_KEY", KEY)
        mp.setenv("POE_MAGIC_HOME", str(tmp_path_factory.mktemp("props_home")))
        settings.set_api_key(None)
        settings.base_url = ""
        ip = InteractiveShell.instance()
        ip.extension_manager.load_extension("poe_magic")
        ip.run_cell(NAMESPACE_SRC)
        yield ip, app
        settings.max_retries = 3


def sent(app: HostileServer) -> int:
    return sum(1 for r in app.seen if r["path"].startswith("/bot/"))


@hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=words, body=bodies)
def test_random_option_lines_and_braces(shell: tuple[Any, HostileServer], line: list[str], body: str) -> None:
    ip, app = shell
    settings.max_retries = 0
    before = sent(app)
    try:
        ip.run_cell_magic("poe", "Echo " + " ".join(line), body)
    except (E.PoeMagicError, UsageError) as exc:
        text = str(exc)
        assert "\n" not in text.strip() and "Traceback" not in text, text
        assert sent(app) == before, f"an error ({text}) after sending"
    # any other exception fails the test (hypothesis shows the smallest input)


@hsettings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(list("{}[]'\".x_dk0 ") + ["{x}", "{d['k'][1]}", "{b}", "{b.prop}", "{In[9]}"]),
                     max_size=40).map("".join))
def test_interpolation_raises_only_one_line_errors(text: str) -> None:
    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("no")

        @property
        def prop(self) -> str:
            raise ValueError("property failed")

    namespace = {"x": 1, "d": {"k": [1, 2]}, "b": Boom(), "In": ["a"]}
    try:
        result = interpolate(text, namespace)
    except E.PoeUsageError as exc:
        assert "\n" not in str(exc) and "nothing was sent" in str(exc)
    else:
        assert isinstance(result, str)


def test_a_huge_interpolated_value_is_refused_with_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "max_prompt_chars", 1_000_000)
    with pytest.raises(E.PoeUsageError) as caught:
        interpolate("look: {big}", {"big": "x" * 50 * 2**20})
    assert "52,428,800 characters" in str(caught.value) and "max_prompt_chars" in str(caught.value)
    assert interpolate("look: {small}", {"small": "x" * 10}) == "look: " + "x" * 10




@pytest.mark.parametrize("days", ["nan", "inf", "-1", "1e308", "0"])
def test_history_days_that_are_not_days(shell: tuple[Any, HostileServer], days: str) -> None:
    ip, app = shell
    before = len(app.seen)
    with pytest.raises(E.PoeUsageError) as caught:
        ip.run_line_magic("poe", f"history --days {days}")
    assert "--days" in str(caught.value) and len(app.seen) == before
