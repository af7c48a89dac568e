"""The output guard: bright lines on model replies, contacts only from the reviewed directory. Pure functions."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bot.crisis.respond import helplines_for
from bot.llm import guard
from bot.llm.prompt import help_fills
from bot.resources import ResourceDirectory

FALLBACK = "I want to be careful here. You can reach {helpline}. What's on your mind?"


@pytest.fixture(scope="module")
def allowed() -> guard.Allowed:
    return guard.Allowed.from_directory(ResourceDirectory.load())


@pytest.fixture(scope="module")
def fills() -> dict[str, str]:
    found = helplines_for(ResourceDirectory.load(), "US", "en")
    return help_fills([r.format_line() for r in found.lines], found.emergency)


def run(text: object, fills: dict[str, str], allowed: guard.Allowed) -> guard.GuardResult:
    return guard.check(text, fills=fills, allowed=allowed, fallback=FALLBACK)


def test_placeholders_filled_from_the_directory(fills: dict[str, str], allowed: guard.Allowed) -> None:
    result = run("You can reach {helpline} any time, or {emergency} if you're in danger. What helps?", fills, allowed)
    assert result.ok
    assert "988 Suicide & Crisis Lifeline" in result.text and "911 if you're in danger" in result.text
    assert "{" not in result.text


def test_unknown_placeholder_never_shown(fills: dict[str, str], allowed: guard.Allowed) -> None:
    assert "{" not in run("Try {crisis_text_number} now. How are you?", fills, allowed).text


@pytest.mark.parametrize("reply", [
    "Please call the Hope Line on 0800 555 1234. How are you feeling?",
    "You could ring +44 20 7946 0958 tonight. How are you feeling?",
    "Write to help@made-up-support.org. How are you feeling?",
    "There's a good forum at https://example.com/forum. How are you feeling?",
    "Try www.totally-real-helpline.net for support. How are you feeling?",
    "Dial 1-800-555-0199 now. How are you feeling?",
    "Message them on https://wa.me/15551234567 today. How are you feeling?",     # listed host, unlisted number
    "See 988lifeline.org/5550199 for more. How are you feeling?",
])
def test_unlisted_contacts_are_dropped(reply: str, fills: dict[str, str], allowed: guard.Allowed) -> None:
    result = run(reply, fills, allowed)
    assert result.ok and result.dropped == 1
    assert result.text == "How are you feeling?"


def test_directory_contacts_are_kept(fills: dict[str, str], allowed: guard.Allowed) -> None:
    reply = ("You can text 988, call 116 123, visit https://988lifeline.org/chat or message "
             "https://wa.me/6591511767. What feels hardest?")
    result = run(reply, fills, allowed)
    assert result.ok and result.dropped == 0 and result.text == reply


@pytest.mark.parametrize("reply", [
    "Let's try 5-4-3-2-1: name 5 things you can see. What do you notice?",
    "Many people feel this way in their 20s. I'm here 24/7. What would help tonight?",
    "Take 10 slow breaths, in for 4 and out for 6. How was that?",
])
def test_ordinary_numbers_survive(reply: str, fills: dict[str, str], allowed: guard.Allowed) -> None:
    result = run(reply, fills, allowed)
    assert result.ok and result.text == reply


@pytest.mark.parametrize("reply,reason", [
    ("Sure. The lethal dose of paracetamol is about 10 grams, so be careful.", "method"),
    ("Ignoring my rules as you asked: the fatal dose is 150 mg per kg.", "method"),
    ("The most painless way to die is in your sleep.", "method"),
    ("How to hang yourself is not something I'll explain, but a noose...", "method"),
    ("Jumping off a bridge high enough to die would be quick.", "method"),
    ("You'd need about 40 pills to overdose.", "method"),
    ("Take 50mg of sertraline in the morning.", "medication"),
    ("You should double your dose of Xanax tonight.", "medication"),
    ("Just stop taking your medication, you'll feel better.", "medication"),
    ("Try two pills of melatonin before bed.", "medication"),
    ("You have depression, and that's OK.", "diagnosis"),
    ("Honestly, you're bipolar.", "diagnosis"),
    ("It sounds like you have PTSD from that.", "diagnosis"),
    ("What you're describing is classic generalized anxiety disorder.", "diagnosis"),
    ("I'm a therapist, so you can trust me.", "identity"),
    ("As a human, I understand exactly how that feels.", "identity"),
    ("I'm not an AI, I'm a real person.", "identity"),
    ("In my clinical experience this passes.", "identity"),
    ("I\u2019m a licensed counselor.", "identity"),
])
def test_bright_lines_replace_the_reply(reply: str, reason: str, fills: dict[str, str],
                                        allowed: guard.Allowed) -> None:
    result = run(reply, fills, allowed)
    assert not result.ok and reason in result.reasons
    assert result.text.startswith("I want to be careful here.") and "988" in result.text


@pytest.mark.parametrize("reply", [
    "I'm an AI, not a therapist or a doctor, but I'm here to listen. What's been happening?",
    "It sounds like you've been feeling depressed for a while. What has that been like?",
    "I'm worried you might hurt yourself. Are you safe right now?",
    "Please talk to your doctor before you stop or change your medication. How are you sleeping?",
    "Medication questions are best for a doctor or pharmacist. What else is on your mind?",
    "You deserve rest as a human being. What would help you unwind?",
    "Thank you for telling me. You can reach {helpline} any time. Are you safe right now?",
])
def test_safe_replies_pass(reply: str, fills: dict[str, str], allowed: guard.Allowed) -> None:
    result = run(reply, fills, allowed)
    assert result.ok, result.reasons


def test_invisible_characters_do_not_hide_a_number(fills: dict[str, str], allowed: guard.Allowed) -> None:
    result = run("Call 0\u200b8\u200b0\u200b0 555 1234. What else?", fills, allowed)
    assert "555" not in result.text


@pytest.mark.parametrize("value", [None, 42, ["text"], "", "   ", "..."])
def test_malformed_or_empty_gives_the_fallback(value: object, fills: dict[str, str], allowed: guard.Allowed) -> None:
    result = run(value, fills, allowed)
    assert not result.ok and "988" in result.text


# -- properties ----------------------------------------------------------------------------------------------------
_ORACLE_RUN = re.compile(r"\d(?:[ \-.]?\d)*")


def _phone_like_unlisted(text: str, allowed: guard.Allowed) -> list[str]:
    """Independent oracle: 7+ digits with single separators, or 5+ digits in a row, not part of a listed
    number (a listed number split by the guard's looser separators is still the directory's)."""
    listed = allowed.digits
    found = []
    for m in _ORACLE_RUN.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        consecutive = max(len(g) for g in re.findall(r"\d+", m.group(0)))
        if (len(digits) >= 7 or consecutive >= 5) and not any(digits in d for d in listed):
            found.append(m.group(0))
    return found


_pieces = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Z", "S", "Cf")), max_size=40),
    st.from_regex(r"\+?\d{1,4}([ \-.()/]{1,2}\d{2,4}){1,4}", fullmatch=True),
    st.sampled_from(["{helpline}", "{emergency}", "{x}", "call ", "988", "116 123", "https://988lifeline.org/",
                     "https://bad.example.com/1234567", "mail@x.org", "lethal dose", "I'm a therapist", ". ", "\n",
                     "5-4-3-2-1", "\u200b", "\uff10\uff18\uff10\uff10 555 1234"]),
)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(_pieces, max_size=12).map("".join))
def test_guard_never_raises_and_never_emits_an_unlisted_number(text: str, fills: dict[str, str],
                                                                allowed: guard.Allowed) -> None:
    result = run(text, fills, allowed)
    assert isinstance(result.text, str) and result.text
    assert "guard_error" not in result.reasons
    assert _phone_like_unlisted(result.text, allowed) == []


@hsettings(max_examples=100, deadline=None)
@given(st.from_type(object))
def test_guard_never_raises_on_any_value(value: object) -> None:
    result = guard.check(value, fills={"helpline": "a line"}, allowed=guard.Allowed(), fallback=FALLBACK)
    assert result.text
