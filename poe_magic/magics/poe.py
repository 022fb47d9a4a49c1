"""PoeMagics: the %%poe / %poe magic, its options and its settings as traitlets."""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import MagicHelpFormatter, argument, kwds, magic_arguments
from traitlets import link

from poe_magic.base.config import SettingTraits, settings


class PlainHelpFormatter(MagicHelpFormatter):
    """``%%poe?`` as plain text. IPython's formatter writes reST for Sphinx (``::`` before the
    usage, ``<...>`` around metavars like ``{markdown,text}``), which the pager shows raw."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = "Usage: %%") -> None:
        super().add_usage(usage, actions, groups, prefix)  # "%%" + "poe": the cell form

    def _format_action_invocation(self, action: argparse.Action) -> str:
        return argparse.RawDescriptionHelpFormatter._format_action_invocation(self, action)


@magics_class
class PoeMagics(Magics, SettingTraits):
    """Talk to Poe models from notebook cells.

    Its ``%config`` options are the settings themselves (:class:`~poe_magic.base.config.SettingTraits`,
    declared once), each linked to ``poe_magic.settings``: a change on either side is the same
    change, validated in one place."""

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # What the user configured (%config, ipython_config.py) wins; otherwise the settings made
        # from Python before loading stay and the magic shows them.
        configured = set(self.config.get("PoeMagics", {}))
        self._links = [link((self, name), (settings, name)) if name in configured
                       else link((settings, name), (self, name)) for name in SettingTraits.setting_names()]

    def update_config(self, config: Any) -> None:
        """``%config PoeMagics.max_retries = 50``: a bad value is one line on stderr (IPython's
        ``%config`` would log it as ``ERROR:root:...``); nothing changes."""
        import sys

        from traitlets import TraitError

        from poe_magic.base import errors as E

        try:
            super().update_config(config)
        except (TraitError, E.PoeMagicError) as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)

    def unlink_settings(self) -> None:
        """Stop mirroring ``poe_magic.settings`` (``%unload_ext``)."""
        for each in self._links:
            each.unlink()
        self._links = []

    @magic_arguments()
    @kwds(formatter_class=PlainHelpFormatter)
    @argument("models", nargs="*", metavar="MODEL",
              help="model to ask (default: PoeMagics.default_model); several models are compared side by side")
    @argument("-o", "--output", metavar="NAME", help="store the Reply (or Comparison) in this variable (the last one is always _poe too)")
    @argument("-s", "--system", metavar="TEXT", help="system prompt")
    @argument("-t", "--temperature", type=float, metavar="T", help="sampling temperature, 0 to 2")
    @argument("--stop", action="append", metavar="SEQ", help="stop sequence (repeatable)")
    @argument("-p", "--param", action="append", metavar="KEY=VALUE",
              help="model parameter, checked against the model's own list when the catalogue has one, value parsed as JSON when it parses, e.g. --param thinking_budget=2048 (repeatable)")
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
    @argument("--schema", metavar="NAME",
              help="structured answer: NAME is a notebook variable holding a pydantic model, dataclass, TypedDict, "
                   "JSON-schema dict or mapping like {'label': str}; the data is _poe.data, shown as a table")
    @argument("--yes", action="store_true", help="send without asking even above PoeMagics.confirm_above points")
    @argument("--judge", metavar="MODEL", help="compare: grade every answer with this model (needs --rubric)")
    @argument("--rubric", metavar="TEXT", help="compare with --judge: what the judge scores the answers on")
    @argument("--background", action="store_true",
              help="return at once: the answer streams into this cell's output while other cells run "
                   "(%%poe jobs lists them, %%poe jobs stop N stops one); -o NAME is set when it ends")
    @no_var_expand  # {name} in the cell and in --system is filled by poe_magic.prompting.interpolation
    @line_cell_magic
    def poe(self, line: str, cell: str | None = None) -> Any:
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

            %%poe Claude-Sonnet-4 --stop END --param thinking_budget=2048 --timeout 60
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

            %%poe GPT-5 --schema Label        (structured answer: Label is a pydantic model, a
            Classify: "Win a free phone!"     dataclass, a TypedDict or {"label": str}; _poe.data)
            %%poe A B C --judge GPT-5 --rubric "accuracy"  (the summary table gains score, reason)
            %%poe GPT-5 --yes                 (send without asking above PoeMagics.confirm_above)
            %%poe GPT-5 --background -o essay (returns at once, the answer streams here; %poe jobs)

            %poe GPT-5 what is 2**10          (one-line question; no "?" at the end of a
                                              line magic: IPython reads "word?" as a help request)
            %poe threads / %poe reset NAME / %poe cache clear
            %poe help                         (all subcommands)

        The last Reply is _poe in the notebook, and poe_magic.last_reply() from Python.
        The options below apply to both forms: %poe MODEL [options] question (a question
        that starts with - goes after --).
        """
        from poe_magic.magics import cell as cell_module
        from poe_magic.magics import commands
        from poe_magic.magics.parsing import parse_options, strip_comment

        if cell is None:
            return commands.dispatch(self, line)
        args = parse_options(self.poe.parser, strip_comment(line))  # `%%poe GPT-5 --chat  # a note`  # quotes removed, unlike parse_argstring
        return cell_module.run_cell(self, args, cell)
