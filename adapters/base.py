"""What every adapter provides, and the rendering fallbacks they share (buttons become numbered text)."""

from __future__ import annotations

from typing import Protocol

from bot.events import Button, Capabilities, ConversationRef, Outgoing


class Adapter(Protocol):
    """An adapter translates platform payloads to events and renders outgoing items. It holds no business logic."""

    name: str
    capabilities: Capabilities

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    # Optional (looked up with getattr, so console and memory adapters need neither):
    #   `ready: bool` property: connected and taking updates right now; /readyz reports 503 while it is false.
    #   `async def stop_receiving() -> None`: stop taking new updates but keep sending, so `haven run` can let
    #   in-flight replies finish before `stop()` disconnects.
    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        """Send an item outside a reply (staff notices, follow-ups). Raises on failure so the job retries."""
        ...


def numbered_buttons(buttons: tuple[Button, ...]) -> str:
    """`[1] I'm safe right now` lines: the console contract, and the fallback where buttons can't render."""
    return "\n".join(f"[{index}] {button.label}" for index, button in enumerate(buttons, start=1))


def choose_numbered(text: str, buttons: tuple[Button, ...]) -> Button | None:
    """The button a typed number refers to, if the text is just that number."""
    stripped = text.strip().rstrip(".)")
    if stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
        return buttons[int(stripped) - 1]
    return None


def text_with_fallback_buttons(text: str, buttons: tuple[Button, ...], capabilities: Capabilities) -> str:
    if buttons and not capabilities.buttons:
        return f"{text}\n{numbered_buttons(buttons)}"
    return text
