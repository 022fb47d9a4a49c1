"""The tutorial notebooks run top to bottom in a real kernel against the local server.

Each notebook is executed with nbclient exactly as a new user would run it with no key: its
first cell starts the bundled server. Any error output, a traceback or warning on stderr, or a
machine path or key in the outputs fails the test. The committed copies must carry clean outputs too.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from poe_magic import demo

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
QUICKSTART = ROOT / demo.DEFAULT_NOTEBOOK


@pytest.fixture(autouse=True)
def private_home(poe_home: Path) -> Path:
    """Kernels started by nbclient inherit this POE_MAGIC_HOME (ledger, caches)."""
    return poe_home


def first_output_text(notebook: nbformat.NotebookNode) -> str:
    cell = next(c for c in notebook.cells if c.cell_type == "code")
    return "".join(o.get("text", "") for o in cell.outputs)


def test_there_are_tutorial_notebooks() -> None:
    names = [p.stem for p in NOTEBOOKS]
    assert names[:3] == ["01-quickstart", "02-compare-models", "03-spending"], names


@pytest.mark.kernel
@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p != QUICKSTART], ids=lambda p: p.stem)
def test_notebook_runs_offline_without_errors(path: Path) -> None:
    executed = demo.execute(path, timeout=120)
    assert demo.problems(executed) == []
    assert "local Poe-compatible server" in first_output_text(executed)
    assert all(c.outputs for c in executed.cells if c.cell_type == "code" and c.source.strip()), \
        "every code cell shows something"


@pytest.mark.kernel
def test_main_job_runs_quickstart_and_says_where_the_copy_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("POE_API_KEY", "pk-not-a-real-key-never-sent-0000")  # the demo runs offline anyway
    home = tmp_path / "user_home"
    monkeypatch.setenv("POE_MAGIC_HOME", str(home))
    assert demo.main(["--out", str(tmp_path)]) == 0
    assert os.environ["POE_MAGIC_HOME"] == str(home) and not home.exists(), "a throwaway home was used"
    assert os.environ["POE_API_KEY"] == "pk-not-a-real-key-never-sent-0000", "the caller's key is restored"
    out = capsys.readouterr().out
    copy = tmp_path / "01-quickstart.executed.ipynb"
    assert f"Executed copy: {copy}" in out
    executed = nbformat.read(copy, as_version=4)
    assert demo.problems(executed) == []
    assert "local Poe-compatible server" in first_output_text(executed)
    assert "pk-not-a-real-key" not in copy.read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_clean_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.outputs for c in code), "commit the executed notebook (python -m poe_magic.demo --all --in-place)"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run top to bottom, once"
    assert demo.problems(notebook) == []
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


def test_problems_finds_errors_stderr_and_leaks() -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("error", ename="PoeAuthError", evalue="bad key", traceback=[]),
        nbformat.v4.new_output("stream", name="stderr", text="FutureWarning: soon"),
        nbformat.v4.new_output("stream", name="stderr", text="poe_magic: session budget reached"),
        nbformat.v4.new_output("stream", name="stdout", text="saved to /home/me/x and local-0123456789abcdef"),
    ])])
    found = demo.problems(notebook)
    assert len(found) == 4, found
    assert "PoeAuthError" in found[0] and "stderr" in found[1]
    assert "/home/" in found[2] and "local-0123456789abcdef" in found[3]
