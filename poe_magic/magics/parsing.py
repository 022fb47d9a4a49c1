"""The option parser of the ``%poe SUBCOMMAND`` lines that take options (history, batch)."""

from __future__ import annotations

import argparse
from typing import Any

from .. import _errors as E


class LineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one PoeUsageError line instead of exiting."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        from .cell import option_suggestion

        near = option_suggestion(self, message.partition(":")[2].split()) if message.startswith("unrecognized") else None
        message += f"; did you mean {near}?" if near else ""
        raise E.PoeUsageError(f"{self.prog}: {message} (usage: {self.format_usage().strip()[7:]})")

    def parse_line(self, line: str) -> argparse.Namespace:
        """Parse a magic's argument line (quotes as in ``%%poe`` options: unbalanced ones are one line too)."""
        from .cell import split_options

        return self.parse_args(split_options(line))
