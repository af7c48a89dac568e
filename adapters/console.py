"""The console adapter: talk to Haven in a terminal with no accounts and no keys.

Contract (design.md §3): `you> ` is printed before every input line, also when stdin is piped, so a script knows
a reply is complete; buttons print as `[1] label` and typing the number presses it; attachments are saved under
the data dir and announced as `attachment: /absolute/path`; end of input exits with status 0.
"""

from __future__ import annotations

import asyncio
import getpass
import itertools
import re
import sys
import threading
from pathlib import Path
from typing import TextIO

from adapters.base import choose_numbered, numbered_buttons
from bot.core import Core
from bot.events import (Attachment, Button, ButtonPressed, Capabilities, ConversationKind, ConversationRef,
                        IncomingMessage, Notify, Outgoing, Reply, UserRef)

PROMPT = "you> "
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ConsoleAdapter:
    name = "console"
    capabilities = Capabilities(ephemeral=False, buttons=True, threads=False, max_text=100_000, max_buttons=9)

    def __init__(self, core: Core, data_dir: Path, *, stdin: TextIO | None = None, stdout: TextIO | None = None,
                 user_id: str | None = None) -> None:
        self._core = core
        self._attachments = data_dir / "attachments"
        self._stdin = stdin or sys.stdin
        self._out = stdout or sys.stdout
        self._ids = itertools.count(1)
        self._session = f"{id(self):x}"
        self._buttons: tuple[Button, ...] = ()
        self.conversation = ConversationRef("console", "local", ConversationKind.DIRECT)
        self.user = UserRef("console", user_id or _local_user())

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        """Something sent outside a reply. To the person (a check-in, a follow-up): shown like a reply, buttons
        and all, then the prompt again. Anywhere else (a staff destination on the console): clearly marked."""
        if target.chat_id == self.conversation.chat_id:
            self._out.write("\n")
            await self._render([item])
            self._out.write(PROMPT)
            self._out.flush()
        elif isinstance(item, (Reply, Notify)):
            self._print(f"[staff notice] {item.text}")
        elif isinstance(item, Attachment):
            self._print(f"[staff notice] attachment: {self._save(item)}")

    async def run(self) -> int:
        """Chat until end of input or /quit. Returns the exit status (0)."""
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        _start_reader(self._stdin, lines, asyncio.get_running_loop())
        self._print(f"Type a message and press Enter. /help lists commands, /quit leaves.")
        await self._render(await self._core.handle(_started(self)))
        while True:
            self._out.write(PROMPT)
            self._out.flush()
            line = await lines.get()
            if line is None:
                self._out.write("\n")
                break
            text = line.rstrip("\r\n")
            if text.strip().lower() in {"/quit", "/exit"}:
                break
            await self._render(await self._core.handle(self._event_for(text)))
        self._print("Take care. You can come back any time.")
        return 0

    def _event_for(self, text: str) -> IncomingMessage | ButtonPressed:
        chosen = choose_numbered(text, self._buttons)
        message_id = f"{self._session}-{next(self._ids)}"
        if chosen is not None:
            self._buttons = ()
            return ButtonPressed(self.conversation, self.user, chosen.action_id, chosen.value, message_id)
        return IncomingMessage(self.conversation, self.user, text, message_id)

    async def _render(self, items: list[Outgoing]) -> None:
        buttons: tuple[Button, ...] = ()
        for item in items:
            if isinstance(item, Reply):
                self._print(item.text)
                buttons += item.buttons
            elif isinstance(item, Notify) and item.target.chat_id == self.conversation.chat_id:
                self._print(item.text)
                buttons += item.buttons
            elif isinstance(item, Notify):
                self._print(f"[staff notice] {item.text}")
            elif isinstance(item, Attachment):
                self._print(f"attachment: {self._save(item)}")
        if buttons:
            self._print(numbered_buttons(buttons))
            self._buttons = buttons

    def _save(self, attachment: Attachment) -> Path:
        self._attachments.mkdir(parents=True, exist_ok=True)
        name = _SAFE_NAME.sub("_", attachment.filename).strip("._") or "attachment"
        path = (self._attachments / f"{next(self._ids)}-{name}").resolve()
        path.write_bytes(attachment.content)
        return path

    def _print(self, text: str) -> None:
        self._out.write(f"{text}\n")
        self._out.flush()


def _started(adapter: ConsoleAdapter):  # type: ignore[no-untyped-def]
    from bot.events import ConversationStarted
    return ConversationStarted(adapter.conversation, adapter.user)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "local"


def _start_reader(stream: TextIO, queue: asyncio.Queue[str | None], loop: asyncio.AbstractEventLoop) -> None:
    """Read stdin on a daemon thread so Ctrl-C and end of input never leave the process hanging."""

    def pump() -> None:
        try:
            for line in iter(stream.readline, ""):
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (ValueError, OSError, UnicodeDecodeError):
            pass
        finally:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except RuntimeError:
                pass   # the loop already closed

    threading.Thread(target=pump, name="haven-console-stdin", daemon=True).start()
