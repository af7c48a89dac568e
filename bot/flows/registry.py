"""Features plug into the core here: commands, button prefixes, pending-flow answers and durable jobs.

The core pipeline stays short and fixed (crisis assessment always first); a feature such as mood check-ins or
booking only declares what it handles. Each feature module exposes `feature(core) -> Feature`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.events import ButtonPressed
from bot.store.base import Job
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

CommandHandler = Callable[[Turn, str], Awaitable[None]]
ButtonHandler = Callable[[Turn, ButtonPressed], Awaitable[None]]
AnswerHandler = Callable[[Turn, str], Awaitable[None]]
JobHandler = Callable[[Job], Awaitable[None]]

#: Feature modules loaded into every core, in order. Add one line per feature.
FEATURE_MODULES: tuple[str, ...] = (
    "bot.flows.skills",
    "bot.flows.settings",
    "bot.flows.mood",
    "bot.flows.screening",
    "bot.flows.ideas",
    "bot.flows.booking",
)


@dataclass
class Feature:
    name: str
    #: `/name` -> handler(turn, argument)
    commands: dict[str, CommandHandler] = field(default_factory=dict)
    #: action_id prefix (e.g. "mood:") -> handler(turn, event)
    buttons: dict[str, ButtonHandler] = field(default_factory=dict)
    #: turn.flow()["pending"] value -> handler(turn, text): the person's typed answer inside a guided flow
    answers: dict[str, AnswerHandler] = field(default_factory=dict)
    #: durable job kind -> handler(job)
    jobs: dict[str, JobHandler] = field(default_factory=dict)


class Features:
    def __init__(self, features: list[Feature]) -> None:
        self.commands: dict[str, CommandHandler] = {}
        self.buttons: dict[str, ButtonHandler] = {}
        self.answers: dict[str, AnswerHandler] = {}
        self.jobs: dict[str, JobHandler] = {}
        for feature in features:
            for mine, theirs in ((self.commands, feature.commands), (self.buttons, feature.buttons),
                                 (self.answers, feature.answers), (self.jobs, feature.jobs)):
                clash = mine.keys() & theirs.keys()
                if clash:
                    raise ValueError(f"feature {feature.name} redefines {sorted(clash)}")
                mine.update(theirs)

    def button(self, action_id: str) -> ButtonHandler | None:
        for prefix, handler in self.buttons.items():
            if action_id.startswith(prefix):
                return handler
        return None


def load_features(core: Core, modules: tuple[str, ...] = FEATURE_MODULES) -> Features:
    return Features([importlib.import_module(name).feature(core) for name in modules])
