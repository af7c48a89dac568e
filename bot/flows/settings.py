"""`/settings`: the person's preferences, changed with buttons on every platform (typing works where it helps).

Button scheme: `set:<what>` with no value shows the choices for <what>; with a value it applies that choice.
Typed answers (a name, a country, a time zone, a time) arrive as the pending flow "settings", so the core has
already assessed them for risk like any other message. Profile keys: preferred_name, pronouns, country, region,
language, timezone, topics, coping_styles, checkin {enabled, days, time, quiet}, followups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.events import Button, ButtonPressed, Reply
from bot.flows import places
from bot.flows.profile import (answer_expired, expect_answer, looks_like_chat, private_only, profile_of, release,
                               remember_address, save, yield_to_crisis, zone_of)
from bot.flows.registry import Feature
from bot.flows.schedule import EVERY_DAY, WEEKDAYS, Schedule, parse_time, reschedule
from bot.turn import Turn

if TYPE_CHECKING:
    from bot.core import Core

LANGUAGES = {"en": "English", "es": "Español", "de": "Deutsch", "fr": "Français", "pt": "Português",
             "it": "Italiano", "nl": "Nederlands"}
PRONOUNS = ("she/her", "he/him", "they/them")
TOPICS = ("stress", "anxiety", "low_mood", "sleep", "loneliness", "relationships", "grief", "self_esteem")
#: Topics are the skills library's concern ids and coping styles its style ids (config/skills/README.md), so
#: /ideas and the skills library rank by the same words.
COPING_STYLES = ("breathing", "movement", "mindfulness", "senses", "writing", "social", "kindness", "activity")
TIMES = ("08:00", "09:00", "12:00", "18:00", "20:00", "21:00")
QUIET = {"22-08": ("22:00", "08:00"), "21-07": ("21:00", "07:00"), "23-09": ("23:00", "09:00"),
         "none": ("00:00", "00:00")}
COMMON_COUNTRIES = ("US", "GB", "CA", "AU", "IE", "DE", "ES")
MAX_NAME = 40
MAX_REGION = 60


class SettingsFlow:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.t = core.catalog.t

    # --- entry points ----------------------------------------------------------------------------------------

    async def command(self, turn: Turn, argument: str) -> None:
        if not private_only(self.core, turn):
            self.menu(turn)

    async def on_button(self, turn: Turn, event: ButtonPressed) -> None:
        if private_only(self.core, turn):
            return
        what, value = event.action_id.removeprefix("set:"), event.value
        handler = {"menu": self._menu_button, "name": self._name, "pron": self._pronouns, "country": self._country,
                   "region": self._region, "lang": self._language, "tz": self._zone, "topic": self._topic,
                   "style": self._style, "checkin": self._checkin, "days": self._days, "day": self._day,
                   "time": self._time, "quiet": self._quiet, "fu": self._followups}.get(what)
        if handler is not None:
            await handler(turn, value)

    async def answer(self, turn: Turn, text: str) -> None:
        """A typed answer to the question asked last (`flow["settings_field"]`). Something that is plainly not
        an answer (a long message, or a question left unanswered for a while) goes to the responder instead."""
        if await yield_to_crisis(self.core, turn, text):
            return
        field = str(turn.flow().get("settings_field"))
        handler = {"name": self._name, "pronouns": self._pronouns, "country": self._country, "region": self._region,
                   "timezone": self._zone, "time": self._time}.get(field)
        limit = 6 if field == "region" else 3
        if handler is None or answer_expired(turn) or looks_like_chat(text, limit):
            turn.flow().pop("settings_field", None)
            await release(self.core, turn, text)
            return
        await handler(turn, text.strip(), True)

    # --- the menu --------------------------------------------------------------------------------------------

    def menu(self, turn: Turn, prefix: str = "") -> None:
        flow = turn.flow()
        if flow.get("pending") == "settings":
            flow.pop("pending", None)
        flow.pop("settings_field", None)
        text = (prefix + "\n\n" if prefix else "") + self.t("settings.menu", turn.lang) + "\n" + self.summary(turn)
        labels = ("name", "country", "lang", "tz", "topic", "style", "checkin", "fu")
        turn.outgoing.append(Reply(text, buttons=tuple(Button(self.t(f"settings.buttons.{key}", turn.lang),
                                                              f"set:{key}") for key in labels)))

    def summary(self, turn: Turn) -> str:
        profile, lang, unset = profile_of(turn), turn.lang, self.t("settings.unset", turn.lang)
        country = profile.get("country")
        place = f"{places.country_name(country, lang)} ({country})" if country else unset
        if profile.get("region"):
            place += f", {profile['region']}"
        schedule = Schedule.from_profile(profile)
        followups = {True: "settings.followups_yes", False: "settings.followups_no"}.get(profile.get("followups"))
        values = {
            "name": profile.get("preferred_name") or unset, "pronouns": profile.get("pronouns") or unset,
            "country": place, "language": LANGUAGES.get(turn.lang, turn.lang),
            "timezone": profile.get("timezone") or self.t("settings.tz_unset", lang),
            "topics": self._labels("settings.topics", profile.get("topics"), lang) or unset,
            "coping": self._labels("settings.coping", profile.get("coping_styles"), lang) or unset,
            "checkin": self.describe_schedule(schedule, lang),
            "followups": self.t(followups, lang) if followups else unset,
        }
        return self.t("settings.summary", lang, **values)

    def describe_schedule(self, schedule: Schedule, lang: str) -> str:
        if not schedule.enabled:
            return self.t("settings.checkin_off", lang)
        if schedule.days == EVERY_DAY:
            days = self.t("settings.daily", lang)
        elif schedule.days == WEEKDAYS:
            days = self.t("settings.weekdays", lang)
        else:
            days = ", ".join(self.t(f"settings.day_names.{d}", lang) for d in schedule.days)
        quiet = self.t("settings.quiet_none", lang) if schedule.quiet[0] == schedule.quiet[1] else \
            f"{schedule.quiet[0]:%H:%M}–{schedule.quiet[1]:%H:%M}"
        return self.t("settings.checkin_on", lang, days=days, time=f"{schedule.at:%H:%M}", quiet=quiet)

    def _labels(self, key: str, chosen: Any, lang: str) -> str:
        return ", ".join(self.t(f"{key}.{item}", lang) for item in (chosen or []))

    async def _menu_button(self, turn: Turn, value: str) -> None:
        self.menu(turn)

    def _ask(self, turn: Turn, field: str | None, text: str, buttons: tuple[Button, ...]) -> None:
        flow = turn.flow()
        if field:
            expect_answer(self.core, turn, "settings")
            flow["settings_field"] = field
        else:
            flow.pop("pending", None)
            flow.pop("settings_field", None)
        back = Button(self.t("settings.back", turn.lang), "set:menu")
        turn.outgoing.append(Reply(text, buttons=buttons + (back,)))

    # --- about me --------------------------------------------------------------------------------------------

    async def _name(self, turn: Turn, value: str, typed: bool = False) -> None:
        if not value:
            self._ask(turn, "name", self.t("settings.ask_name", turn.lang),
                      (Button(self.t("settings.clear", turn.lang), "set:name", "-"),))
            return
        await save(self.core, turn, preferred_name=None if value == "-" and not typed else value[:MAX_NAME])
        await self._pronouns(turn, "")

    async def _pronouns(self, turn: Turn, value: str, typed: bool = False) -> None:
        if not value:
            options = tuple(Button(p, "set:pron", p) for p in PRONOUNS)
            self._ask(turn, "pronouns", self.t("settings.ask_pronouns", turn.lang),
                      options + (Button(self.t("settings.prefer_not", turn.lang), "set:pron", "-"),))
            return
        await save(self.core, turn, pronouns=None if value == "-" and not typed else value[:MAX_NAME])
        self.menu(turn, self.t("settings.saved", turn.lang))

    # --- where and which language ----------------------------------------------------------------------------

    async def _country(self, turn: Turn, value: str, typed: bool = False) -> None:
        if not value:
            codes = tuple(dict.fromkeys(([turn.country] if turn.country else []) + list(COMMON_COUNTRIES)))
            self._ask(turn, "country", self.t("settings.ask_country", turn.lang),
                      tuple(Button(places.country_name(c, turn.lang), "set:country", c) for c in codes[:7]))
            return
        code = places.find_country(value, turn.lang)
        if code is None:
            self._ask(turn, "country", self.t("settings.country_unknown", turn.lang, text=value[:40]), ())
            return
        profile = await save(self.core, turn, country=code, region=None)
        text = self.t("settings.saved_country", turn.lang, country=places.country_name(code, turn.lang))
        zones = places.zones_for(code)
        if not profile.get("timezone") and len(zones) == 1:
            await save(self.core, turn, timezone=zones[0])
            await self._reschedule(turn)
            text += " " + self.t("settings.saved_tz", turn.lang, zone=zones[0])
        self._ask(turn, "region", text + "\n" + self.t("settings.ask_region", turn.lang),
                  (Button(self.t("settings.skip", turn.lang), "set:menu"),))

    async def _region(self, turn: Turn, value: str, typed: bool = False) -> None:
        await save(self.core, turn, region=value[:MAX_REGION] or None)
        self.menu(turn, self.t("settings.saved", turn.lang))

    async def _language(self, turn: Turn, value: str, typed: bool = False) -> None:
        if value not in LANGUAGES:
            self._ask(turn, None, self.t("settings.ask_language", turn.lang),
                      tuple(Button(name, "set:lang", code) for code, name in LANGUAGES.items()))
            return
        await save(self.core, turn, language=value)
        self.menu(turn, self.t("settings.saved_language", turn.lang, language=LANGUAGES[value]))

    async def _zone(self, turn: Turn, value: str, typed: bool = False) -> None:
        if not value:
            self._ask(turn, "timezone", self.t("settings.ask_tz", turn.lang),
                      tuple(Button(z, "set:tz", z) for z in places.zones_for(turn.country)))
            return
        zone = places.valid_zone(value)
        if zone is None:
            self._ask(turn, "timezone", self.t("settings.tz_unknown", turn.lang, text=value[:64]),
                      tuple(Button(z, "set:tz", z) for z in places.zones_for(turn.country)))
            return
        await save(self.core, turn, timezone=zone)
        next_at = await self._reschedule(turn)
        self.menu(turn, self.t("settings.saved_tz", turn.lang, zone=zone) + self._next_note(turn, next_at))

    # --- topics and coping styles (toggles) ------------------------------------------------------------------

    async def _topic(self, turn: Turn, value: str, typed: bool = False) -> None:
        await self._toggle(turn, value, key="topics", options=TOPICS, action="set:topic", labels="settings.topics",
                           question="settings.ask_topics")

    async def _style(self, turn: Turn, value: str, typed: bool = False) -> None:
        await self._toggle(turn, value, key="coping_styles", options=COPING_STYLES, action="set:style",
                           labels="settings.coping", question="settings.ask_coping")

    async def _toggle(self, turn: Turn, value: str, *, key: str, options: tuple[str, ...], action: str,
                      labels: str, question: str) -> None:
        chosen = [item for item in profile_of(turn).get(key) or [] if item in options]
        if value in options:
            chosen = [item for item in chosen if item != value] if value in chosen else chosen + [value]
            await save(self.core, turn, **{key: chosen})
        buttons = tuple(Button(("✓ " if item in chosen else "") + self.t(f"{labels}.{item}", turn.lang), action, item)
                        for item in options)
        self._ask(turn, None, self.t(question, turn.lang), buttons)

    # --- check-ins -------------------------------------------------------------------------------------------

    async def _checkin(self, turn: Turn, value: str, typed: bool = False) -> None:
        schedule = Schedule.from_profile(profile_of(turn))
        if value == "off":
            await self._save_schedule(turn, enabled=False)
            self.menu(turn, self.t("settings.checkin_stopped", turn.lang))
            return
        text = self.t("settings.checkin_intro", turn.lang, current=self.describe_schedule(schedule, turn.lang))
        buttons = [Button(self.t("settings.daily", turn.lang), "set:days", "daily"),
                   Button(self.t("settings.weekdays", turn.lang), "set:days", "weekdays"),
                   Button(self.t("settings.pick_days", turn.lang), "set:days", "pick"),
                   Button(self.t("settings.buttons.quiet", turn.lang), "set:quiet")]
        if schedule.enabled:
            buttons += [Button(self.t("settings.buttons.time", turn.lang), "set:time"),
                        Button(self.t("settings.checkin_stop", turn.lang), "set:checkin", "off")]
        self._ask(turn, None, text, tuple(buttons))

    async def _days(self, turn: Turn, value: str, typed: bool = False) -> None:
        flow = turn.flow()
        if value == "pick":
            flow["pick_days"] = []
            await self._day(turn, "")
            return
        days = {"daily": EVERY_DAY, "weekdays": WEEKDAYS}.get(value) or tuple(sorted(flow.pop("pick_days", [])))
        flow["checkin_days"] = list(days or EVERY_DAY)
        await self._time(turn, "")

    async def _day(self, turn: Turn, value: str, typed: bool = False) -> None:
        picked: list[int] = turn.flow().setdefault("pick_days", [])
        if value.isdigit() and 0 <= int(value) <= 6:
            day = int(value)
            picked[:] = sorted(set(picked) ^ {day})
        buttons = tuple(Button(("✓ " if d in picked else "") + self.t(f"settings.day_names.{d}", turn.lang),
                               "set:day", str(d)) for d in range(7))
        self._ask(turn, None, self.t("settings.ask_days", turn.lang),
                  buttons + (Button(self.t("settings.done", turn.lang), "set:days", "picked"),))

    async def _time(self, turn: Turn, value: str, typed: bool = False) -> None:
        if not value:
            self._ask(turn, "time", self.t("settings.ask_time", turn.lang),
                      tuple(Button(t, "set:time", t) for t in TIMES))
            return
        at = parse_time(value)
        schedule = Schedule.from_profile(profile_of(turn))
        if at is None or Schedule(True, schedule.days, at, schedule.quiet).time_is_quiet:
            key = "settings.time_unknown" if at is None else "settings.time_quiet"
            self._ask(turn, "time", self.t(key, turn.lang, text=value[:20],
                                           quiet=f"{schedule.quiet[0]:%H:%M}–{schedule.quiet[1]:%H:%M}"),
                      tuple(Button(t, "set:time", t) for t in TIMES))
            return
        days = turn.flow().pop("checkin_days", None) or list(schedule.days)
        next_at = await self._save_schedule(turn, enabled=True, days=days, time=at.strftime("%H:%M"))
        self.menu(turn, self.t("settings.checkin_saved", turn.lang) + self._next_note(turn, next_at))

    async def _quiet(self, turn: Turn, value: str, typed: bool = False) -> None:
        if value not in QUIET:
            self._ask(turn, None, self.t("settings.ask_quiet", turn.lang), tuple(
                Button(self.t("settings.quiet_none", turn.lang) if key == "none" else f"{a}–{b}", "set:quiet", key)
                for key, (a, b) in QUIET.items()))
            return
        next_at = await self._save_schedule(turn, quiet=list(QUIET[value]))
        note = self.t("settings.time_now_quiet", turn.lang) if Schedule.from_profile(profile_of(turn)).enabled \
            and next_at is None else self._next_note(turn, next_at)
        self.menu(turn, self.t("settings.saved", turn.lang) + note)

    async def _save_schedule(self, turn: Turn, **changes: Any) -> Any:
        checkin = {**Schedule.from_profile(profile_of(turn)).to_profile(), **changes}
        await save(self.core, turn, checkin=checkin)
        if checkin["enabled"]:
            remember_address(turn)
        return await self._reschedule(turn)

    async def _reschedule(self, turn: Turn) -> Any:
        if turn.degraded:
            return None
        profile = profile_of(turn)
        return await reschedule(self.core.store, user_key=turn.user_key, conv_key=turn.conv_key, profile=profile,
                                now=turn.now, zone=zone_of(profile))

    def _next_note(self, turn: Turn, next_at: Any) -> str:
        if next_at is None:
            return ""
        local = next_at.astimezone(zone_of(profile_of(turn)))
        day = self.t(f"settings.day_names.{local.weekday()}", turn.lang)
        return " " + self.t("settings.next_checkin", turn.lang, when=f"{day} {local:%Y-%m-%d %H:%M}",
                            zone=str(local.tzinfo))

    # --- follow-ups ------------------------------------------------------------------------------------------

    async def _followups(self, turn: Turn, value: str, typed: bool = False) -> None:
        if value not in ("yes", "no"):
            self._ask(turn, None, self.t("settings.ask_followups", turn.lang), (
                Button(self.t("settings.followups_yes", turn.lang), "set:fu", "yes"),
                Button(self.t("settings.followups_no", turn.lang), "set:fu", "no")))
            return
        await save(self.core, turn, followups=value == "yes")
        self.menu(turn, self.t("settings.saved", turn.lang))


def feature(core: Core) -> Feature:
    flow = SettingsFlow(core)
    return Feature(name="settings", commands={"settings": flow.command}, buttons={"set:": flow.on_button},
                   answers={"settings": flow.answer})
