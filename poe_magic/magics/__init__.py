"""``%%poe`` and ``%poe``: thin glue from notebook text to the Python API.

Options are declared with IPython's ``magic_arguments`` (so ``%%poe?`` lists them and bad
options are a one-line ``UsageError``); settings are traitlets (``%config PoeMagics...``).
The work happens in :mod:`poe_magic.magics.cell` (the cell magic) and in the subcommand
functions registered in :mod:`poe_magic.magics.commands` (``%poe models``, ...).
"""

from __future__ import annotations

import argparse
from typing import Any, Optional

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import MagicHelpFormatter, argument, kwds, magic_arguments
from traitlets import Bool, Float, Int, Unicode, observe

from ..config import settings


class PlainHelpFormatter(MagicHelpFormatter):
    """``%%poe?`` as plain text. IPython's formatter writes reST for Sphinx (``::`` before the
    usage, ``<...>`` around metavars like ``{markdown,text}``), which the pager shows raw."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: Optional[str] = "Usage: %%") -> None:
        super().add_usage(usage, actions, groups, prefix)  # "%%" + "poe": the cell form

    def _format_action_invocation(self, action: argparse.Action) -> str:
        return argparse.RawDescriptionHelpFormatter._format_action_invocation(self, action)


@magics_class
class PoeMagics(Magics):
    """Talk to Poe models from notebook cells."""

    default_model = Unicode("", help="Model used when a cell names none.").tag(config=True)
    base_url = Unicode("", help="Server root (default: $POE_BASE_URL, else https://api.poe.com).").tag(config=True)
    throttle_interval = Float(0.05, help="Seconds between live display updates.").tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to open a connection.").tag(config=True)
    first_token_timeout = Float(120.0, help="Seconds to wait for the first token.").tag(config=True)
    stall_timeout = Float(120.0, help="Seconds of silence allowed between chunks.").tag(config=True)
    max_retries = Int(3, help="Retries of rate-limit/server errors before the first token.").tag(config=True)
    retry_backoff = Float(1.0, help="First wait between retries in seconds, doubled each retry "
                                    "(a server's Retry-After wins).").tag(config=True)
    cache = Bool(False, help="Reuse identical earlier answers from the on-disk cache.").tag(config=True)
    max_tool_rounds = Int(5, help="Cap on tool-call rounds per request.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # Only what the user configured overrides settings made from Python before loading.
        for name in self.config.get("PoeMagics", {}):
            if hasattr(settings, name):
                setattr(settings, name, getattr(self, name))

    @observe("default_model", "base_url", "throttle_interval", "connect_timeout", "first_token_timeout",
             "stall_timeout", "max_retries", "retry_backoff", "cache", "max_tool_rounds")
    def _push_setting(self, change: dict[str, Any]) -> None:
        setattr(settings, change["name"], change["new"])

    @magic_arguments()
    @kwds(formatter_class=PlainHelpFormatter)
    @argument("models", nargs="*", metavar="MODEL",
              help="model to ask (default: PoeMagics.default_model); several models are compared side by side")
    @argument("-o", "--output", metavar="NAME", help="store the Reply in this variable")
    @argument("-s", "--system", metavar="TEXT", help="system prompt")
    @argument("-t", "--temperature", type=float, metavar="T", help="sampling temperature, 0 to 2")
    @argument("--stop", action="append", metavar="SEQ", help="stop sequence (repeatable)")
    @argument("-p", "--param", action="append", metavar="KEY=VALUE",
              help="model parameter, value parsed as JSON when it parses, e.g. --param thinking_budget=2048 (repeatable)")
    @argument("--timeout", type=float, metavar="S", help="give up on a model after S seconds (partial text kept)")
    @argument("--compare", action="store_true",
              help="compare side by side: the models named, else the comparison set (%%poe use A B C)")
    @argument("--runs", type=int, default=1, metavar="N", help="compare: run each model N times (median, spread)")
    @argument("-f", "--format", default="markdown", choices=["markdown", "text", "code", "html"],
              help="how to show the answer (default markdown); code: put the code into a new cell below")
    @argument("--chat", nargs="?", const=True, default=None, metavar="NAME",
              help="continue a conversation (thread NAME, else 'default'): earlier turns are sent as history")
    @argument("-a", "--attach", action="append", metavar="PATH",
              help="upload a file (image, PDF, text, ...) with the prompt (repeatable)")
    @argument("--cache", action="store_true", default=None,
              help="answer from the on-disk cache when this exact request was answered before")
    @argument("--no-cache", dest="cache", action="store_false", default=None,
              help="ask the model even when PoeMagics.cache is on")
    @argument("--no-interpolate", action="store_true",
              help="send {braces} as written: no {variable}, {In[3]}, {Out[3]} substitution")
    @argument("--tools", metavar="F,G", help="let the model call these notebook functions (comma-separated names)")
    @argument("--confirm", action="store_true", help="with --tools: ask Yes/No before each tool call")
    @argument("--force", action="store_true", help="send even when the session budget (%%poe budget N) is spent")
    @no_var_expand  # {name} in the cell and in --system is filled by poe_magic.interpolate
    @line_cell_magic
    def poe(self, line: str, cell: Optional[str] = None) -> Any:
        """Send the cell to a Poe model and stream the answer as Markdown.

        Two forms:
          %%poe MODEL [options]   (cell magic) the rest of the cell is the prompt
          %poe MODEL question     (line magic) a one-line question, same options and {name} filling
          %poe SUBCOMMAND ...     (line magic) models, use, threads, history, ... (%poe help)

        Examples:

            %%poe Claude-Sonnet-4
            Explain list comprehensions in two sentences.

            %%poe GPT-5 -o answer -s "Answer in French" -t 0.2
            What is a closure?

            %%poe GPT-5 --stop END --param thinking_budget=2048 --timeout 60
            Count to ten, then write END.

            %%poe GPT-5 --chat                (continue the thread 'default')
            And in Rust?
            %%poe Claude-Sonnet-4 --chat ideas  (thread 'ideas', switching model keeps it)
            Which of these is cheapest?

            %%poe GPT-5                       ({name}, {In[3]}, {Out[3]}; {{ is a brace)
            Summarise this table: {df}
            %%poe GPT-5 --no-interpolate      (send {braces} untouched)

            %%poe GPT-5 --attach plot.png --attach notes.pdf
            What does the plot show?

            %%poe Imagen-4                    (images answer inline)
            A lighthouse at dawn

            %%poe GPT-5 --format code         (code goes into a new cell below, not run)
            A function that reverses a string.
            %%poe GPT-5 -f html               (also: -f text)

            %%poe GPT-5 --cache               (an identical earlier request: no points spent)
            %%poe GPT-5 --no-cache            (when %config PoeMagics.cache = True)

            %%poe GPT-5 Claude-Sonnet-4 Grok-4  (side by side, same options for all; _poe.to_frame())
            Explain recursion to a child.
            %%poe --compare --runs 3 --timeout 60  (the set from %poe use A B C; median and spread)

            %poe GPT-5 what is 2**10          (one-line question; no "?" at the end of a
                                              line magic: IPython reads "word?" as a help request)
            %poe threads / %poe reset NAME / %poe cache clear
            %poe help                         (all subcommands)

        The last Reply is _poe in the notebook, and poe_magic.last_reply() from Python.
        The options below apply to both forms: %poe MODEL [options] question (a question
        that starts with - goes after --).
        """
        from . import cell as cell_module
        from . import commands

        if cell is None:
            return commands.dispatch(self, line)
        args = cell_module.parse_options(self.poe.parser, line)  # quotes removed, unlike parse_argstring
        return cell_module.run_cell(self, args, cell)


def load(ipython: Any) -> None:
    ipython.register_magics(PoeMagics(shell=ipython))


def unload(ipython: Any) -> None:
    magics = ipython.magics_manager.magics
    magics["line"].pop("poe", None)
    magics["cell"].pop("poe", None)
    ipython.magics_manager.registry.pop("PoeMagics", None)
