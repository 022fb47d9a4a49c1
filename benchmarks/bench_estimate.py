"""The immediate estimate (``Reply.estimated_points``, the footer's ``≈ N points``) against the
billed cost, on a local server with the real-size catalogue (``POE_LOCAL_SERVER_CATALOG=real``),
whose priced stand-ins charge their per-token prices x the server's own token count (words and
punctuation x 1.3), not the client's 4-characters-a-token guess.

12 per-token-priced text models x 3 prompts ("hello", a one-line question, 6,000 characters of
docs/spending.md); ``wait_for_costs``; then ``spending.estimating.calibration()``: the median
and the worst |estimate - billed| / billed. Also the default server (flat cost per call while its
catalogue lists per-token prices), for contrast. An error, not a timing: no baseline.
"""

from __future__ import annotations

import os
import tempfile

from .common import ROOT, Row, local_server, row

PROMPTS = ["hello", "Explain the Python GIL in one paragraph, with an example.",
           "Summarise: " + (ROOT / "docs" / "spending.md").read_text(encoding="utf-8")[:6000]]


def _measure(models: list[str] | None) -> tuple[dict, int]:
    import poe_magic
    from poe_magic.core.session import new_session
    from poe_magic.spending.estimating import calibration
    from poe_magic.spending.ledger import wait_for_costs

    new_session()
    if models is None:
        frame = poe_magic.models(refresh=True, all=True)
        priced = frame[(frame["output_modalities"] == "text") & frame["prompt_price"].notna()
                       & (frame["context_window"].fillna(10**9) > 4096)]["id"].tolist()
        models = priced[:12]
    for model in models:
        for prompt in PROMPTS:
            poe_magic.send(prompt, model, stream=False)
    wait_for_costs(60)
    return calibration(), len(models)


def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="poe_bench_estimate_") as home:
        os.environ["POE_MAGIC_HOME"] = home
        os.environ["POE_LOCAL_SERVER_CATALOG"] = "real"
        try:
            with local_server(activate=True):
                os.environ.pop("POE_LOCAL_SERVER_CATALOG")
                found, n = _measure(None)
        finally:
            os.environ.pop("POE_LOCAL_SERVER_CATALOG", None)
        rows.append(row("estimate", "≈ estimate vs billed, median |error|/billed (real-size catalogue)",
                        found["median_error"], unit="", notes=f"{found['calls']} calls ({n} per-token-priced models x "
                        f"{len(PROMPTS)} prompts); worst {found['worst']:.2f}"))
        with local_server(activate=True):
            flat, n = _measure(["EchoBot", "MarkdownBot", "Claude-Haiku-3.5", "Claude-Sonnet-4", "GPT-5",
                                "GPT-4o-mini", "Gemini-2.5-Pro", "Grok-4"])
        rows.append(row("estimate", "≈ estimate vs billed, median |error|/billed (default server)",
                        flat["median_error"], unit="", notes=f"{flat['calls']} calls; its stand-ins charge a flat "
                        "cost per call while listing per-token prices (per-request prices are exact)"))
    return rows

