"""The responder that needs no key and no network: it reflects, validates and asks one open question.

It is deliberately modest. It never gives advice it cannot stand behind, and it avoids repeating itself within a
conversation by remembering which phrasings it has used.
"""

from __future__ import annotations

from bot.i18n import Catalog
from bot.llm.base import ResponderContext, ResponderReply


class OfflineResponder:
    name = "offline"
    uses_history = False

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def _pick(self, key: str, context: ResponderContext) -> str:
        options = self._catalog.raw(key, context.lang)
        used: list[int] = context.memory.setdefault(key, [])
        if len(used) >= len(options):
            used.clear()
        index = next(i for i in range(len(options)) if i not in used)
        used.append(index)
        return str(options[index])

    async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
        reflection = self._pick("offline.fallback_reflections", context)
        question = self._pick("offline.fallback_questions", context)
        return ResponderReply(text=f"{reflection} {question}", source=self.name)
