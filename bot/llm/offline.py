"""The responder that needs no key and no network: it reflects, validates, asks one open question and offers a
reviewed self-help skill when one fits.

It is deliberately modest. Every sentence comes from the reviewed catalog (config/messages, `offline:`) or the
skills library (config/skills): it paraphrases by concern and never quotes the person's words back. It keeps
what it has said in the conversation's memory so it does not repeat itself, paces itself (listen first, offer a
skill on the second message about something, or straight away when asked or when panic is happening now), and
answers small talk briefly instead of forcing an exercise on someone who said "thanks".
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from bot.events import Button
from bot.i18n import Catalog
from bot.llm.base import ResponderContext, ResponderReply
from bot.llm import offline_buttons as ui
from bot.llm.offline_lexicon import Lexicon, Reading, load_lexicon
from bot.llm.offline_skills import Library, feedback_of, load_library, remember, skill_memory

log = logging.getLogger("haven.llm")

#: Offer at most one skill every this many replies (unless the person asks for one).
OFFER_SPACING = 3
#: A topic carries over to messages without keywords for this many replies.
TOPIC_QUIET_TURNS = 3
#: Replies remembered (as short hashes) to avoid saying the same thing twice in one conversation.
RECENT_LIMIT = 40
#: Use the person's name on the first reply and then every this many replies: warm, not mechanical.
NAME_EVERY = 4
MAX_NAME = 40
#: A guided skill counts as "in progress" for this many replies after its last step was shown.
ACTIVE_SKILL_TURNS = 2
#: Said if even the catalog fails: the responder must always answer.
LAST_RESORT = "I'm here and listening. What's on your mind?"


class OfflineResponder:
    name = "offline"
    uses_history = False

    def __init__(self, catalog: Catalog, lexicon: Lexicon | None = None, library: Library | None = None) -> None:
        self._catalog = catalog
        self._lexicon = lexicon or load_lexicon()
        self._library = library or load_library(concern_ids=self._lexicon.concern_ids)

    async def reply(self, text: str, context: ResponderContext) -> ResponderReply:
        try:
            return self._reply(text, context)
        except Exception:   # the last answer standing must never fail: say something plain and kind instead
            log.exception("event=offline_reply_failed")
            try:
                return ResponderReply(text=f"{self._pick('offline.fallback_reflections', context)} "
                                           f"{self._pick('offline.fallback_questions', context)}", source=self.name)
            except Exception:
                return ResponderReply(text=LAST_RESORT, source=self.name)

    # --- choosing what to say --------------------------------------------------------------------------------

    def _reply(self, text: str, context: ResponderContext) -> ResponderReply:
        memory = context.memory
        turn = int(memory.get("offline.turns", 0) or 0) + 1
        memory["offline.turns"] = turn
        reading = self._lexicon.read(text, context.lang)
        if reading.name:
            memory["offline.name"] = reading.name[:MAX_NAME]
        name = self._name(context, turn)
        active = self._active_skill(memory, turn)
        topic = memory.get("offline.topic")

        if reading.concerns:
            reply = self._concern(reading, context, name, turn)
        elif reading.help_request:
            reply = (self._concern(reading, context, name, turn) if topic else None) or self._menu(context)
        elif reading.name:
            line = self._t("offline.smalltalk.name_known", context, name_part=self._name_part(reading.name, context))
            reply = self._say(context, [line], "offline.smalltalk.greeting_questions")
        elif reading.smalltalk == "ack" and isinstance(active, dict):
            reply = self._still_in_skill(active, context)
        elif reading.smalltalk == "ack" and topic:
            # "ok" / "yeah" after a question about their concern: keep listening, but never push a skill.
            reply = self._concern(reading, context, name, turn, may_offer=False) or self._smalltalk("ack", context,
                                                                                                   name)
        elif reading.smalltalk:
            reply = self._smalltalk(reading.smalltalk, context, name)
        else:
            reply = self._concern(reading, context, name, turn) if topic else None
        if reply is None:
            self._forget_topic(memory)
            parts = [self._t("offline.name_leads", context, name=name, pick=True)] if name else []
            reply = self._say(context, parts + [self._pick("offline.fallback_reflections", context)],
                              "offline.fallback_questions")
        return reply

    def _concern(self, reading: Reading, context: ResponderContext, name: str | None, turn: int, *,
                 may_offer: bool = True) -> ResponderReply | None:
        """Reflect the concern, maybe offer a skill, ask one open question about it."""
        memory = context.memory
        concern = reading.concern
        topic = memory.get("offline.topic")
        if concern is None:
            quiet = int(memory.get("offline.topic_quiet", 0) or 0) + 1
            if not isinstance(topic, str) or topic not in self._lexicon.concern_ids or quiet > TOPIC_QUIET_TURNS:
                self._forget_topic(memory)
                return None
            memory["offline.topic_quiet"] = quiet
            concern = topic
            reflection = self._pick("offline.continuations", context)
        else:
            memory["offline.topic_quiet"] = 0
            reflection = self._pick(f"offline.reflections.{concern}", context)
        same = concern == topic
        memory["offline.topic"] = concern
        memory["offline.topic_turns"] = (int(memory.get("offline.topic_turns", 0) or 0) + 1) if same else 1
        parts = [self._t("offline.name_leads", context, name=name, pick=True)] if name else []
        parts.append(reflection)
        skill = None
        if may_offer and self._should_offer(reading, memory, turn):
            skill = self._library.choose(concern, context.profile, memory)
        buttons: tuple[Button, ...] = ()
        if skill is not None:
            text = skill.text(context.lang)
            parts.append(self._t("offline.offers", context, pick=True, skill=text.name, why=text.why))
            remember(memory, "offered", skill.id)
            skill_memory(memory)["last_offer_turn"] = turn
            buttons = ui.offer_buttons(self._catalog, context.lang, skill.id)
        return self._say(context, parts, f"offline.questions.{concern}", buttons)

    @staticmethod
    def _active_skill(memory: dict[str, Any], turn: int) -> dict[str, Any] | None:
        """The skill being guided right now; forgotten once the person has clearly moved on to talking."""
        skills = skill_memory(memory)
        active = skills.get("active")
        if not isinstance(active, dict):
            return None
        started = active.get("turn")
        if not isinstance(started, int) or turn - started > ACTIVE_SKILL_TURNS:
            skills.pop("active", None)
            return None
        return active

    def _should_offer(self, reading: Reading, memory: dict[str, Any], turn: int) -> bool:
        skills = skill_memory(memory)
        if self._active_skill(memory, turn) is not None:
            return False
        if reading.help_request or reading.urgent:
            return True
        last = skills.get("last_offer_turn")
        spaced = not isinstance(last, int) or turn - last >= OFFER_SPACING
        return spaced and int(memory.get("offline.topic_turns", 0) or 0) >= 2

    def _menu(self, context: ResponderContext) -> ResponderReply:
        feedback = feedback_of(context.profile)
        skills = [s for s in self._library.skills if feedback.get(s.id) != "down"][:ui.PAGE_SIZE]
        buttons = tuple(Button(s.text(context.lang).name, ui.action("offer", s.id)) for s in skills)
        if not buttons:
            return self._say(context, [self._pick("offline.fallback_reflections", context)],
                             "offline.fallback_questions")
        return ResponderReply(self._t("offline.skills_menu_intro", context), buttons=buttons, source=self.name)

    def _still_in_skill(self, active: dict[str, Any], context: ResponderContext) -> ResponderReply:
        skill = self._library.get(str(active.get("id")))
        if skill is None:
            skill_memory(context.memory).pop("active", None)
            return self._smalltalk("ack", context, None)
        step = int(active.get("step", 0) or 0)
        text = self._t("offline.skill.in_progress", context, skill=skill.text(context.lang).name)
        return ResponderReply(text, buttons=ui.step_buttons(self._catalog, context.lang, skill.id, step + 1),
                              source=self.name)

    def _smalltalk(self, kind: str, context: ResponderContext, name: str | None) -> ResponderReply:
        line = self._t(f"offline.smalltalk.{kind}", context, pick=True, name_part=self._name_part(name, context))
        questions = {"greeting": "offline.smalltalk.greeting_questions",
                     "howareyou": "offline.smalltalk.greeting_questions",
                     "bye": "offline.smalltalk.bye_questions"}.get(kind, "offline.smalltalk.closing_questions")
        return self._say(context, [line], questions)

    # --- wording helpers -------------------------------------------------------------------------------------

    def _say(self, context: ResponderContext, parts: list[str], question_key: str,
             buttons: tuple[Button, ...] = ()) -> ResponderReply:
        """Parts plus one open question; a different question when the whole reply was already said here."""
        recent: list[str] = context.memory.setdefault("offline.recent", [])
        if not isinstance(recent, list):
            recent = context.memory["offline.recent"] = []
        lead = " ".join(p.strip() for p in parts if p and p.strip())
        text = ""
        for attempt in range(8):
            key = question_key if attempt < 5 else "offline.fallback_questions"
            text = f"{lead} {self._pick(key, context)}".strip()
            if _digest(text) not in recent:
                break
        recent.append(_digest(text))
        del recent[:-RECENT_LIMIT]
        return ResponderReply(text=text, buttons=buttons, source=self.name)

    def _name(self, context: ResponderContext, turn: int) -> str | None:
        """The name to use in this reply, or None: the first reply, then now and then."""
        if (turn - 1) % NAME_EVERY:
            return None
        raw = context.memory.get("offline.name") or context.profile.get("preferred_name")
        if not isinstance(raw, str):
            return None
        cleaned = " ".join(raw.split())[:MAX_NAME]
        return cleaned or None

    def _name_part(self, name: str | None, context: ResponderContext) -> str:
        return self._t("offline.name_part", context, name=name) if name else ""

    def _t(self, key: str, context: ResponderContext, *, pick: bool = False, **values: Any) -> str:
        """Catalog text; `pick` takes the next unused option of a list first."""
        if not pick:
            return self._catalog.t(key, context.lang, **values)
        return self._pick(key, context).format_map(_Fill(values))

    def _pick(self, key: str, context: ResponderContext) -> str:
        """The first option under `key` not yet used in this conversation (all used: start again)."""
        options = self._catalog.raw(key, context.lang)
        if isinstance(options, str):
            return options
        options = [str(o) for o in options] or [""]
        used = context.memory.setdefault(key, [])
        if not isinstance(used, list):
            used = context.memory[key] = []
        used[:] = [i for i in used if isinstance(i, int) and 0 <= i < len(options)]
        if len(used) >= len(options):
            used.clear()
        index = next(i for i in range(len(options)) if i not in used)
        used.append(index)
        return options[index]

    @staticmethod
    def _forget_topic(memory: dict[str, Any]) -> None:
        for key in ("offline.topic", "offline.topic_turns", "offline.topic_quiet"):
            memory.pop(key, None)


class _Fill(dict[str, Any]):
    """Leave an unknown {placeholder} visible rather than fail."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:10]
