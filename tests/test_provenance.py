"""Provenance in the saved notebook (metadata["poe_magic"] on every answer output, read back
by notebook_costs from a notebook executed with nbclient), and asking before an expensive
call (confirm_above: refused headless, passed with --yes / yes=True, asked with input()),
with the estimate behind it (poe_magic.estimate). Real kernels, real HTTP to the local server."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from harness import Kernel, notebook_client

import poe_magic
from poe_magic.base import errors as E
from poe_magic.server.launch import LocalServer

CELLS = [
    "%load_ext poe_magic\nimport poe_magic",
    "%%poe EchoBot -t 0.3 --stop END\nhello from cell two",
    "%%poe EchoBot JsonBot -o compared\ncompare this",
    "r = poe_magic.ask('priced', 'PricedBot', params={'cost': 25})",
    "import time\nfor _ in range(300):\n    if r.points is not None and all(x.points is not None for x in compared):\n"
    "        break\n    time.sleep(0.1)\ntime.sleep(0.5)\nprint(r.points)",
    "frame = poe_magic.batch(['a', 'b'], '{text}', 'EchoBot')",
]


@pytest.fixture
def executed(activated: LocalServer, tmp_path: Path) -> Path:
    """A notebook run top to bottom by nbclient against the local server, saved to disk."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook_client(notebook, timeout=120).execute()
    path = tmp_path / "made.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.kernel  # the executed fixture runs a notebook in a kernel (nbclient)
def test_answers_carry_metadata_and_notebook_costs_reads_it(executed: Path, activated: LocalServer) -> None:
    notebook = json.loads(executed.read_text())
    metas = [o["metadata"]["poe_magic"] for c in notebook["cells"] for o in c.get("outputs", [])
             if "poe_magic" in o.get("metadata", {})]
    single = metas[0]
    assert {"model", "points", "time", "elapsed", "time_to_first_token", "prompt_sha256", "version"} <= set(single)
    assert single["temperature"] == 0.3 and single["stop"] == ["END"]  # the parameters as sent
    import hashlib

    assert single["prompt_sha256"] == hashlib.sha256(b"hello from cell two").hexdigest()[:16]
    assert "system" not in single and "cached" not in single  # None and False are left out (issue 26)
    assert single["version"] == poe_magic.__version__
    batch = [o["metadata"]["poe_magic"] for o in notebook["cells"][5]["outputs"] if "poe_magic" in o.get("metadata", {})]
    assert len(batch) == 1 and len(batch[0]["batch"]) == 12  # the progress output names its batch
    costs = poe_magic.notebook_costs(executed)
    assert list(costs["cell"]) == [2, 3, 3, 4]
    assert list(costs["model"]) == ["EchoBot", "EchoBot", "JsonBot", "PricedBot"]
    assert costs["comparison"].isna().tolist() == [True, False, False, True]
    assert costs["comparison"].iloc[1] == costs["comparison"].iloc[2]  # one comparison id for its models
    # a cost known before its cell ended is in the notebook; one found later (nbclient stops
    # listening when the cell ends) comes from the call log of the kernel that made the call
    assert str(costs["points"].dtype) == "Int64" and costs["points"].iloc[3] == 25
    assert set(costs["points_from"]) <= {"notebook", "call log"} and costs["points"].notna().all()
    assert poe_magic.notebook_costs(executed, use_log=False)["points_from"].isin(["notebook"]).sum() == \
        (costs["points_from"] == "notebook").sum()
    assert (costs["elapsed"] > 0).all()
    assert "pk-" not in executed.read_text() and activated.env["POE_API_KEY"] not in executed.read_text()


@pytest.mark.parametrize("content", ["not json", '{"cells": 3}', "[]"])
def test_notebook_costs_refuses_what_is_not_a_notebook(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.ipynb"
    path.write_text(content)
    with pytest.raises(E.PoeUsageError):
        poe_magic.notebook_costs(path)
    with pytest.raises(E.PoeUsageError):
        poe_magic.notebook_costs(tmp_path / "missing.ipynb")


def test_hostile_metadata_is_dropped_not_trusted(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    notebook.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "x"}, metadata={
        "poe_magic": {"model": "M", "points": float("nan"), "elapsed": "1e999", "cached": "yes"}})]
    path = tmp_path / "h.ipynb"
    nbformat.write(notebook, path)
    costs = poe_magic.notebook_costs(path)
    assert list(costs["model"]) == ["M"] and costs["points"].isna().all() and costs["elapsed"].isna().all()


# -- asking before an expensive call --------------------------------------------------------------

def test_estimate_says_what_it_rests_on(activated: LocalServer) -> None:
    frame = poe_magic.estimate("hello", ["PricedBot", "EchoBot"], rows=4)
    assert list(frame.columns) == ["model", "points_per_call", "points", "basis", "based_on"]
    assert (frame["points"] == frame["points_per_call"] * 4).all()
    assert set(frame["basis"]) <= {"history", "catalogue price", "largest this session", "unknown"}
    with pytest.raises(E.PoeUsageError):
        poe_magic.estimate_cost("hello", "EchoBot", rows=-1)


def test_confirm_refused_headless_and_passed_with_yes(kernel: Kernel) -> None:
    kernel.run_ok("%config PoeMagics.confirm_above = 1")
    try:
        result = kernel.run("%%poe PricedBot\nexpensive")
        assert result.error is not None and result.error["ename"] == "PoeUsageError"
        (line,) = result.error["traceback"]
        assert "above confirm_above = 1" in line and "--yes" in line and "nothing was sent" in line
        assert kernel.run_ok("%%poe PricedBot --yes -o ok\nexpensive")
        assert kernel.value("ok.text").startswith("PricedBot answered")
        for code in ("poe_magic.compare('x', ['PricedBot', 'EchoBot'])",
                     "poe_magic.batch(['a', 'b'], '{text}', 'PricedBot', progress=False)",
                     "poe_magic.ask('x', 'PricedBot')",
                     "import pandas as pd\npoe_magic.grade(pd.DataFrame({'model': ['M'], 'prompt': ['q'], 'answer': ['a']}), "
                     "judge='PricedBot', rubric='r', progress=False)"):
            result = kernel.run("import poe_magic\n" + code)
            assert result.error is not None and "yes=True" in result.error["traceback"][0], code
        kernel.run_ok("import poe_magic\nf = poe_magic.batch(['a', 'b'], '{text}', 'PricedBot', progress=False, "
                      "yes=True)\nassert f['error'].isna().all()")
    finally:
        kernel.run_ok("%config PoeMagics.confirm_above = 0")


def test_confirm_asks_with_input(kernel: Kernel) -> None:
    kernel.run_ok("%config PoeMagics.confirm_above = 1")
    try:
        result = kernel.run_with_input("%%poe PricedBot -o asked\nplease", ["y"])
        assert result.error is None and len(result.prompts) == 1
        assert "estimated at" in result.prompts[0] and "Send it? [y/N]" in result.prompts[0]
        result = kernel.run_with_input("%%poe PricedBot\nplease", ["n"])
        assert result.error is not None and "you declined" in result.error["traceback"][0]
    finally:
        kernel.run_ok("%config PoeMagics.confirm_above = 0")
    assert kernel.run_ok("%%poe PricedBot\nno question now").error is None


def test_confirm_setting_is_validated(kernel: Kernel) -> None:
    result = kernel.run("import poe_magic\npoe_magic.settings.confirm_above = float('nan')")
    assert result.error is not None and len(result.error["traceback"]) == 1
