"""%poe batch DATA MODEL... : a thin parser over poe_magic.batch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from poe_magic.base import errors as E
from poe_magic.batches.run import batch
from poe_magic.magics.parsing import LineParser, check_output_name

if TYPE_CHECKING:

    pass


def batch_command(magics: Any, arg: str) -> Any:
    """``%poe batch DATA [MODEL ...] [-p TEMPLATE] [options]``: :func:`batch` over the
    notebook variable DATA; the frame (or the handle with ``--background``) is shown and
    stored as ``-o NAME`` (default ``_batch``)."""

    parser = LineParser(prog="%poe batch", add_help=False)
    parser.add_argument("data", metavar="DATA", help="a DataFrame, Series or list in the notebook")
    parser.add_argument("models", nargs="*", metavar="MODEL")
    parser.add_argument("-p", "--prompt", default="Summarise: {text}", help="template, {column} fields")
    parser.add_argument("-s", "--system", default=None)
    parser.add_argument("-t", "--temperature", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-rpm", type=float, default=None)
    parser.add_argument("--budget", type=float, default=None)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--no-cache", action="store_true", help="ask again even what the journal has")
    parser.add_argument("--background", action="store_true", help="return a handle at once")
    parser.add_argument("-o", "--output", default="_batch", metavar="NAME")
    args = parser.parse_line(arg)
    namespace = magics.shell.user_ns
    if args.data not in namespace:
        raise E.PoeUsageError(f"%poe batch: no variable named {args.data!r} in the notebook")
    check_output_name(args.output)
    extra = {"temperature": args.temperature} if args.temperature is not None else {}
    result = batch(namespace[args.data], args.prompt, args.models or None, system=args.system,
                   concurrency=args.concurrency, max_rpm=args.max_rpm, budget=args.budget, cache=not args.no_cache,
                   background=args.background, timeout=args.timeout, **extra)
    namespace[args.output] = result
    return result
