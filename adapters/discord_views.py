"""Discord buttons: Haven's `Button(label, action_id, value)` as persistent components and back.

Every button's `custom_id` is `hv:<action_id>|<value>`. A `DynamicItem` with that template matches the
custom_id of ANY message's component, so buttons keep working after a restart without re-registering views
(a `View` object lives only in memory; the custom_id lives in Discord). The item forwards presses to the
adapter through the client (`client.haven`), which decides nothing itself: it defers within Discord's 3-second
window and hands a `ButtonPressed` to the core (or handles its own `discord:` actions such as opting out).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

from bot.events import Button

PREFIX = "hv:"
MAX_CUSTOM_ID = 100          # Discord's limit for a component custom_id
MAX_LABEL = 80               # Discord's limit for a button label
MAX_BUTTONS = 25             # 5 rows of 5
#: The lookahead caps the whole custom_id at Discord's 100 characters: a longer one is not a button Haven made, and
#: matching it would make discord.py build a HavenButton that cannot exist (an error logged with a traceback).
_TEMPLATE = re.compile(r"(?=.{1,100}\Z)hv:(?P<action>[A-Za-z0-9_.:-]{1,64})\|(?P<value>.*)", re.DOTALL)


class ButtonSink(Protocol):
    async def on_button(self, interaction: discord.Interaction[Any], action_id: str, value: str) -> None: ...


def encode(action_id: str, value: str) -> str | None:
    """The custom_id for a button, or None when it cannot fit Discord's 100-character limit."""
    custom_id = f"{PREFIX}{action_id}|{value}"
    if len(custom_id) > MAX_CUSTOM_ID or not _TEMPLATE.fullmatch(custom_id):
        return None
    return custom_id


def decode(custom_id: str) -> tuple[str, str] | None:
    match = _TEMPLATE.fullmatch(custom_id)
    return (match["action"], match["value"]) if match else None


class HavenButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_TEMPLATE):
    """One Haven button; rebuilt by discord.py from the custom_id on every press."""

    def __init__(self, label: str, action_id: str, value: str, *, primary: bool = False) -> None:
        custom_id = encode(action_id, value)
        if custom_id is None:
            raise ValueError("button does not fit in a custom_id")
        style = discord.ButtonStyle.primary if primary else discord.ButtonStyle.secondary
        super().__init__(discord.ui.Button(label=label[:MAX_LABEL] or "…", style=style, custom_id=custom_id))
        self.action_id = action_id
        self.value = value

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> HavenButton:
        label = getattr(item, "label", None) or "…"
        return cls(label, match["action"], match["value"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        sink: ButtonSink | None = getattr(interaction.client, "haven", None)
        if sink is not None:
            await sink.on_button(interaction, self.action_id, self.value)


def build_view(buttons: tuple[Button, ...]) -> tuple[discord.ui.View | None, tuple[Button, ...]]:
    """A persistent view for the buttons that fit, and the ones that did not (rendered as text instead)."""
    if not buttons:
        return None, ()
    view = discord.ui.View(timeout=None)
    left_over: list[Button] = []
    for index, button in enumerate(buttons):
        if index >= MAX_BUTTONS or encode(button.action_id, button.value) is None:
            left_over.append(button)
            continue
        view.add_item(HavenButton(button.label, button.action_id, button.value, primary=index == 0))
    return (view if view.children else None), tuple(left_over)
