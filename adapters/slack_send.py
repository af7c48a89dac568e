"""Sending to Slack: core replies into the conversation they answer, and deliveries outside a reply.

Failures inside a reply are logged and the next item is still tried (one rejected block must not swallow a
crisis reply); failures in `deliver` raise DeliveryError so the durable job decides whether to retry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_blocks as blocks
from adapters.slack_support import AUTH_ERRORS, delivery_error, error_code, report_auth_failure
from adapters.slack_texts import SlackTexts
from bot.delivery import DeliveryError
from bot.events import Attachment, Button, ConversationRef, Notify, Outgoing, Reply, UserRef

if TYPE_CHECKING:
    from bot.app import HavenApp

log = logging.getLogger("haven.slack")


class SlackSender:
    def __init__(self, app: HavenApp, client: AsyncWebClient, texts: SlackTexts) -> None:
        self._app = app
        self._client = client
        self._texts = texts

    async def deliver(self, target: ConversationRef, item: Outgoing) -> None:
        """Staff notices and follow-ups. Raises DeliveryError (retryable or not) so the job can decide."""
        try:
            channel = target.chat_id
            if channel[:1] in ("U", "W"):   # a person rather than a conversation: open the DM first
                opened = await self._client.conversations_open(users=channel)
                channel = str((opened.get("channel") or {}).get("id"))
            if isinstance(item, (Reply, Notify)):
                await self.post(channel, item.text, item.buttons, thread_ts=target.thread_id)
            elif isinstance(item, Attachment):
                await self.post(channel, self._texts.attachment(item), (), thread_ts=target.thread_id)
        except SlackApiError as exc:
            raise delivery_error(exc) from None
        except (OSError, asyncio.TimeoutError) as exc:
            raise DeliveryError(f"slack: {exc.__class__.__name__}", retryable=True) from None

    async def render(self, conversation: ConversationRef, sender: UserRef, items: list[Outgoing]) -> None:
        """Send each item; one failing (a 429 after the retry, a block Slack rejects) does not drop the rest."""
        for item in items:
            try:
                await self._render_one(conversation, sender, item)
            except SlackApiError as exc:
                code = error_code(exc)
                if code in AUTH_ERRORS:
                    report_auth_failure(code)
                log.warning("event=slack_send_failed error=%s", code)

    async def _render_one(self, conversation: ConversationRef, sender: UserRef, item: Outgoing) -> None:
        thread = conversation.thread_id
        if isinstance(item, Reply):
            if conversation.is_direct and _asks_consent(item):
                # First contact: the workplace note goes before consent is asked, so the consent is informed.
                await self.post(conversation.chat_id, self._texts.workspace_note(sender.locale), (), thread_ts=thread)
            if item.private and not conversation.is_direct:
                await self.post_ephemeral(conversation.chat_id, sender.user_id, item.text, item.buttons,
                                          thread_ts=thread)
            else:
                await self.post(conversation.chat_id, item.text, item.buttons, thread_ts=thread)
        elif isinstance(item, Notify):
            try:
                await self._app.outbox.deliver(item.target, item)
            except DeliveryError as exc:
                log.error("event=notify_failed platform=%s reason=%s", item.target.platform, exc.reason)
        elif isinstance(item, Attachment):
            await self.post(conversation.chat_id, self._texts.attachment(item), (), thread_ts=thread)

    async def post(self, channel: str, text: str, buttons: tuple[Button, ...], *, thread_ts: str | None) -> None:
        for message in blocks.render(text, buttons):
            await self._client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks,
                                                thread_ts=thread_ts, unfurl_links=False, unfurl_media=False)

    async def post_ephemeral(self, channel: str, user: str, text: str, buttons: tuple[Button, ...] = (), *,
                             thread_ts: str | None) -> None:
        for message in blocks.render(text, buttons):
            await self._client.chat_postEphemeral(channel=channel, user=user, text=message.text,
                                                  blocks=message.blocks, thread_ts=thread_ts)


def _asks_consent(reply: Reply) -> bool:
    """The core's first-contact disclosure ends with the consent question; its buttons identify it."""
    return any(button.action_id == "consent:yes" for button in reply.buttons)
