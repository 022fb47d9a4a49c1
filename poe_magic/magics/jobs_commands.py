"""``%poe jobs`` (background answers and their elapsed time) and ``%poe jobs stop N``."""

from __future__ import annotations

from typing import Any

from poe_magic.base import errors as E
from poe_magic.magics.commands import TextTable


def jobs_command(magics: Any, arg: str) -> Any:
    from poe_magic.prompting.background import find, jobs

    words = arg.split()
    if words[:1] == ["stop"]:
        if len(words) != 2 or not words[1].isdigit():
            raise E.PoeUsageError("usage: %poe jobs stop N (N from %poe jobs)")
        job = find(int(words[1]))
        job.stop()
        job.wait(5)
        print(f"stopped job {job.id} ({job.model}); its partial answer is kept")
        return None
    if words:
        raise E.PoeUsageError("usage: %poe jobs, or %poe jobs stop N")
    found = jobs()
    if not found:
        print("no background answers yet: %%poe MODEL --background starts one")
        return None
    rows = [(f"{job.id}", f"{job.model} · {job.status} · {job.elapsed:.1f} s · "
             + " ".join(job.prompt.split())[:50]) for job in found]
    return TextTable("Background answers of this session:", ("job", "model · status · elapsed · prompt"), rows,
                     "`%poe jobs stop N` stops one (its text is kept).")
