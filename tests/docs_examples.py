"""The code examples of README.md and docs/*.md, as the docs-examples test runs them.

A fenced block is an example when it is ```` ```python ```` / ```` ```ipython ````, or has no
language (or ``text``) and its first line is a magic (``%poe``, ``%%poe``, ``%load_ext``).
``<!-- example: not run (reason) -->`` on the line before a block's fence leaves it out, with
the reason; other blocks (``bash``, ``json``, output) are not examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*$")
_SKIP = re.compile(r"<!--\s*example:\s*not run\s*\((?P<reason>[^)]*)\)\s*-->")


@dataclass
class Block:
    page: str  # "docs/models.md"
    number: int  # 1-based among the page's fenced blocks
    line: int  # the line of its opening fence
    lang: str
    code: str
    skipped: str | None  # the reason, when marked not run

    @property
    def runnable(self) -> bool:
        if self.lang in ("python", "py", "ipython"):
            return True
        first = next((line.strip() for line in self.code.splitlines() if line.strip()), "")
        return self.lang in ("", "text") and first.startswith("%")

    def where(self) -> str:
        first = next((line.strip() for line in self.code.splitlines() if line.strip()), "")
        return f"{self.page} block {self.number} (line {self.line}): {first[:60]!r}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of the page at ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, start = opening.group("indent"), index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][len(indent):] if lines[index].startswith(indent) else lines[index])
            index += 1
        index += 1
        before = lines[start - 1] if start else ""
        skip = _SKIP.search(before)
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
        found.append(Block(name, len(found) + 1, start + 1, opening.group("lang").lower(),
                           "\n".join(body), skip.group("reason") if skip else None))
    return found


def examples() -> dict[str, list[Block]]:
    """page -> its example blocks (skipped ones included, marked)."""
    return {str(p.relative_to(ROOT)): [b for b in blocks(p) if b.runnable] for p in PAGES}
