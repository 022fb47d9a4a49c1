"""The local server's bots: demo and test bots, and offline stand-ins for real models.

Each module holds one family; this package lists them all, in catalogue order. May import:
the rest of ``poe_magic.server`` and ``poe_magic.base``.
"""

from __future__ import annotations

from poe_magic.server.bots.base import LocalBot
from poe_magic.server.bots.demo import LOCAL_BOTS, SIMULATED_MODELS, SimulatedModel
from poe_magic.server.bots.faults import make_fault_bots
from poe_magic.server.bots.long import make_long_bots
from poe_magic.server.bots.media import make_media_bots
from poe_magic.server.bots.paced import make_paced_bots
from poe_magic.server.bots.priced import PricedBot
from poe_magic.server.bots.stand_ins import stand_in_bots
from poe_magic.server.bots.structured import make_structured_bots
from poe_magic.server.bots.tools import ToolBot
from poe_magic.server.state import ServerState


def make_bots(state: ServerState) -> list[LocalBot]:
    """Every bot the server serves, in catalogue order."""
    bots: list[LocalBot] = [cls(name, state) for name, cls in LOCAL_BOTS.items()]
    for name, owner, cost, delay, description in SIMULATED_MODELS:
        bots.append(SimulatedModel(name, state, owner=owner, cost=cost, delay=delay, description=description))
    bots.extend(make_fault_bots(state))  # DropBot, StallBot, ...: failures on purpose
    bots.extend(make_paced_bots(state))  # SlowBot-1..8 for comparisons
    bots.extend(stand_in_bots(state))  # Imagen-4, Veo-3, ...: image/video/audio models in /v1/models
    bots.extend(make_media_bots(state))  # ImageBot, FileReaderBot (attachments both ways)
    bots.append(ToolBot("ToolBot", state))  # calls the tools it is offered (tool-calling tests)
    bots.append(PricedBot("PricedBot", state))  # cost= knob: a batch costing more than estimated
    bots.extend(make_long_bots(state))  # LongBot, LongBot-B: long Markdown answers, streamed slowly
    bots.extend(make_structured_bots(state))  # JsonBot, RepairJsonBot, BadJsonBot, JudgeBot, ...: schema=, grading
    return bots
