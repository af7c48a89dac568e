"""The deterministic crisis tier: every category the detector must handle, plus the multilingual test set.

The phrases here are written by the project (not taken from any evaluation set). Each test names the clinical
or linguistic rule it protects, so a failing test says what broke.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from bot.crisis.detect import assess, warm_up
from bot.crisis.levels import RiskLevel

N, L, M, H, I = RiskLevel.NONE, RiskLevel.LOW, RiskLevel.MODERATE, RiskLevel.HIGH, RiskLevel.IMMINENT
CASES = Path(__file__).resolve().parent.parent / "fixtures" / "crisis_cases.jsonl"


def _level(text: str, lang: str | None = None) -> RiskLevel:
    return assess(text, lang).level


def test_lexicons_compile() -> None:
    assert warm_up() > 500


@pytest.mark.parametrize(("text", "lo", "hi", "signal"), [
    ("I wish I wasn't here", L, M, "wish_dead"),
    ("I want to kill myself", M, M, "ideation"),
    ("I'm thinking about suicide", M, M, "ideation"),
    ("I don't want to live anymore", M, H, "ideation"),
    ("I'm not sure I want to live", M, H, "ideation"),
    ("everyone would be better off without me", M, H, "ideation"),
    ("how many pills would it take to die", H, H, "method"),
    ("what's the most painless way to die", H, H, "method"),
    ("I want to die, I keep looking at the rope in the garage", H, I, "method"),
    ("I have a plan to kill myself on Friday", H, I, "plan"),
    ("I'm going to kill myself", H, I, "intent"),
    ("I've been cutting again", H, I, "self_harm"),
    ("my dad hits me", H, I, "abuse"),
    ("I'm scared he'll kill me", H, I, "abuse"),
    ("I want to hurt him", H, I, "violence_to_others"),
    ("I have the pills in my hand", I, I, "means_access"),
    ("I'm going to kill myself tonight", I, I, "timeframe"),
    ("I already took them", I, I, "attempt_in_progress"),
    ("goodbye everyone this is my last message", I, I, "attempt_in_progress"),
])
def test_columbia_levels_and_signals(text: str, lo: RiskLevel, hi: RiskLevel, signal: str) -> None:
    a = assess(text)
    assert lo <= a.level <= hi, (text, a)
    assert signal in a.signals


@pytest.mark.parametrize("text", [
    "I'm not suicidal", "I would never hurt myself", "I don't want to die", "I'm not going to kill myself",
])
def test_denials_are_none_with_negated(text: str) -> None:
    a = assess(text)
    assert a.level == N and "negated" in a.signals


@pytest.mark.parametrize("text", [
    "I don't want to live anymore", "I'm not sure I want to live", "I don't want to be alive",
])
def test_negative_wording_that_is_still_ideation(text: str) -> None:
    assert _level(text) >= M


@pytest.mark.parametrize("text", [
    "this exam is killing me", "I'd kill for a coffee", "dead tired", "I died laughing", "my feet are killing me",
    "you'll kill it on stage", "drop dead gorgeous", "I'm dying to see that film", "bored to death in class",
])
def test_idioms_are_figurative(text: str) -> None:
    a = assess(text)
    assert a.level == N, a
    assert "figurative" in a.signals


@pytest.mark.parametrize("text", [
    "kill the python process", "how do I kill a child process", "the character kills herself in chapter 3",
    "in the game I died", "how do I kill weeds in my garden", "git keeps hanging on push",
])
def test_technical_and_fiction_are_none(text: str) -> None:
    assert _level(text) == N


@pytest.mark.parametrize("text", [
    "what are the warning signs of suicide", "suicide rates in Europe",
    "I'm writing a school essay about suicide prevention", "why do people self-harm?",
])
def test_talking_about_suicide_is_never_escalated(text: str) -> None:
    assert _level(text) <= L


def test_worried_friend_is_third_party_and_low() -> None:
    for text in ("my friend says she wants to die", "my friend is on the bridge right now",
                 "my brother told me he wants to kill himself"):
        a = assess(text)
        assert a.level <= L and "third_party_concern" in a.signals, (text, a)


def test_past_versus_recent_self_harm() -> None:
    past = assess("I used to self-harm, two years clean")
    assert past.level == L and "past" in past.signals
    assert _level("I relapsed and cut last night") >= H


def test_a_past_attempt_stays_moderate() -> None:
    # Columbia screener: lifetime suicidal behaviour is triaged as moderate, not low.
    assert _level("I tried to kill myself when I was sixteen") == M


@pytest.mark.parametrize(("text", "lo"), [
    ("I want to sleep and never wake up", L), ("I won't be a burden much longer", M),
    ("I've written letters to my family", M), ("I'm giving away all my things, I won't need them", H),
    ("what's the point of living", L),
])
def test_indirect_ideation(text: str, lo: RiskLevel) -> None:
    assert _level(text) >= lo


@pytest.mark.parametrize("text", [
    "how many pills would it take", "how high does a bridge need to be", "lethal dose of paracetamol",
    "what's the easiest way to kill myself", "which over the counter meds would kill me",
])
def test_method_seeking_is_high(text: str) -> None:
    a = assess(text)
    assert a.level >= H and "method" in a.signals


@pytest.mark.parametrize("text", [
    "unalive myself", "I want to unalive", "kms", "thinking about sewer slide", "k!ll mys3lf", "i want to d i e",
    "I wanna dieeee", "i want to k\u200bill myself", "I w a n t to die", "i want to 🪦", "s*icide is all I think about",
])
def test_algospeak_and_obfuscation(text: str) -> None:
    assert _level(text) >= M, text


def test_kys_aimed_at_others_is_not_self_risk() -> None:
    assert _level("lol kys") == N
    assert _level("honestly I should just kys") >= M


def test_emoji_only_count_with_first_person_context() -> None:
    assert _level("🔪💊") == N
    assert _level("I want to die 💊💊") >= H


@pytest.mark.parametrize("text", ["I'm on the roof", "I'm standing on the bridge", "I wrote the note, goodbye forever"])
def test_imminent_locations_and_farewells(text: str) -> None:
    assert _level(text) >= H


def test_crisis_phrase_at_the_end_of_a_long_message_is_found() -> None:
    text = "I had an ordinary day at work and then went home. " * 3000 + "I'm going to kill myself tonight."
    assert len(text) > 100_000
    assert _level(text) == I


def test_language_is_reported() -> None:
    assert assess("quiero morir, no aguanto más").lang == "es"
    assert assess("ik wil dood", "nl-NL").lang == "nl"
    assert assess("hi", "de").lang == "de"


def _load_cases() -> list[dict[str, str]]:
    return [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_fixture_covers_every_category_in_every_language() -> None:
    cases = _load_cases()
    assert len(cases) >= 300
    by_lang: dict[str, set[str]] = defaultdict(set)
    for c in cases:
        by_lang[c["lang"]].add(c["category"])
    assert set(by_lang) == {"en", "es", "de", "fr", "pt", "it", "nl"}
    assert all(cats == by_lang["en"] for cats in by_lang.values())


def test_fixture_cases_within_expected_levels() -> None:
    wrong = []
    for c in _load_cases():
        a = assess(c["text"], c["lang"])
        if not RiskLevel.parse(c["min"]) <= a.level <= RiskLevel.parse(c["max"]):
            wrong.append((c["lang"], c["category"], c["min"], c["max"], a.level.label))
    assert not wrong, wrong


def test_per_language_recall_within_five_points_of_english() -> None:
    hit: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for c in _load_cases():
        lo = RiskLevel.parse(c["min"])
        if lo < M:
            continue
        total[c["lang"]] += 1
        hit[c["lang"]] += assess(c["text"], c["lang"]).level >= lo
    recall = {lang: hit[lang] / total[lang] for lang in total}
    for lang, r in recall.items():
        assert r >= recall["en"] - 0.05, recall


# -- general phrasings added after the first dev-set review (written by the project, not taken from any data) --

@pytest.mark.parametrize(("text", "lang"), [
    ("Please don't tell me how much it would hurt my parents, I've heard it", "en"),
    ("stop telling me to think about my kids", "en"),
    ("no me digas cuánto le va a doler a mi familia", "es"),
    ("sag mir nicht, wie sehr es meine Familie verletzen wird", "de"),
    ("ne me dis pas à quel point ça va faire du mal à ma famille", "fr"),
    ("não me diga o quanto isso vai magoar minha família", "pt"),
    ("non dirmi quanto farà soffrire la mia famiglia", "it"),
    ("zeg niet hoeveel pijn het mijn familie zal doen", "nl"),
])
def test_pushing_back_on_the_family_argument_is_ideation(text: str, lang: str) -> None:
    # "Think of how it would hurt your family" is what people hear when they disclose suicidal thoughts;
    # pushing back on it says the thought is there.
    a = assess(text, lang)
    assert a.level >= M and "ideation" in a.signals, a


def test_the_family_phrase_about_something_else_is_not_ideation() -> None:
    assert _level("don't tell me it would hurt my family if I moved abroad") == N


@pytest.mark.parametrize(("text", "lang"), [
    ("cutting hurts nobody but me", "en"),
    ("self-harm that harms no one else is my business", "en"),
    ("cortarse no le hace daño a nadie", "es"),
    ("Ritzen schadet doch niemandem", "de"),
    ("la scarification ne fait de mal à personne", "fr"),
    ("a automutilação não machuca ninguém", "pt"),
    ("l'autolesionismo non fa male a nessuno", "it"),
    ("zelfbeschadiging doet niemand pijn", "nl"),
])
def test_self_harm_hurts_nobody_is_pro_harm(text: str, lang: str) -> None:
    assert _level(text, lang) >= M


@pytest.mark.parametrize(("text", "lang"), [
    ("there isn't anyone left to turn to", "en"),
    ("no tengo a nadie a quien acudir", "es"),
    ("es gibt niemanden, an den ich mich wenden kann", "de"),
    ("je n'ai personne vers qui me tourner", "fr"),
    ("não tenho a quem recorrer", "pt"),
    ("non ho nessuno a cui rivolgermi", "it"),
    ("ik kan nergens meer terecht", "nl"),
])
def test_no_one_to_turn_to_is_distress(text: str, lang: str) -> None:
    a = assess(text, lang)
    assert a.level == L and "distress" in a.signals, a


@pytest.mark.parametrize(("text", "lang"), [
    ("I feel trapped, I'm so hopeless and there isn't anyone left to turn to", "en"),
    ("I feel like a burden, everything is pointless and I really don't want to ask for help", "en"),
    ("estou sem esperança, me sinto presa e não tenho a quem recorrer", "pt"),
])
def test_entrapment_with_hopelessness_checks_safety(text: str, lang: str) -> None:
    # Three separate signs of hopelessness/entrapment in one message: Haven checks safety (moderate).
    a = assess(text, lang)
    assert a.level == M and "cumulative" in a.signals, a


@pytest.mark.parametrize("text", ["I don't want to ask for help with my homework", "I'd rather not tell anyone my grades"])
def test_help_reluctance_alone_is_at_most_low(text: str) -> None:
    assert _level(text) <= L


def test_failed_attempt_mechanics_count_as_a_past_attempt() -> None:
    assert _level("I was 22 when the noose snapped") == M
    assert _level("my gun misfired when I tried") >= M
    assert _level("the gun jammed at the range today") == N


def test_generalised_abuse_and_self_harm_phrasings() -> None:
    assert _level("No job. Abusive parents. No way out.") >= H      # telegraphic self-description
    assert _level("signs of an abusive home in children") <= L     # topic, not disclosure
    assert _level("bloodletting was a common medieval treatment") == N
    assert _level("I started bloodletting last month") >= H
    assert _level("the cuts didn't even hurt anymore") >= H


def test_gate_finds_exactly_what_a_full_scan_finds() -> None:
    # The literal gate, anchored matching and long-text windows are optimisations only: on a mix of short,
    # long and repetitive texts they must report exactly the matches of running every pattern everywhere.
    import re

    from bot.crisis import lexicon
    from bot.crisis.normalize import normalize

    gate = lexicon.get().gate
    full = [re.compile(r"(?<!\w)(?:" + rx.pattern.removeprefix(r"(?<!\w)") + ")") for _, _, rx in gate.patterns]
    filler = "Today was long and I went to work again, then home. "
    texts = ["I want to die", "kill the python process", "my friend said she wants to die",
             filler * 60 + "I'm going to kill myself tonight", "I cut again. " + filler * 30 + " goodbye forever",
             "skill myself killjoy unaliveable", "no quiero vivir más, me voy a matar esta noche"]
    for text in texts:
        form = normalize(text)
        want = sorted((pid, *m.span()) for pid, rx in enumerate(full) for m in rx.finditer(form))
        assert sorted(gate.matches(form)) == want, text


def test_gate_equivalence_on_more_shapes() -> None:
    # Literal at position 0, literals after punctuation, a literal with a non-word character ("d&d"), and
    # patterns whose second literal is present or absent (the gate's extra literal checks).
    import re

    from bot.crisis import lexicon
    from bot.crisis.normalize import normalize

    gate = lexicon.get().gate
    full = [re.compile(r"(?<!\w)(?:" + rx.pattern.removeprefix(r"(?<!\w)") + ")") for _, _, rx in gate.patterns]
    texts = ["kill", "suicide.", "(kill myself)", "\"to die for\" cake", "in d&d my rogue died, d&die",
             "today is the day i die", "today-today;today", "tod tod today tonight tomorrow",
             "people who self-harm hurt nobody else, they just hide their cuts",
             "how much do i drink to thin my blood so i bleed more",
             "quiero morir/quiero morir", "ich_will sterben", "x" * 700 + " i want to die " + "y" * 700]
    for text in texts:
        form = normalize(text)
        want = sorted((pid, *m.span()) for pid, rx in enumerate(full) for m in rx.finditer(form))
        assert sorted(gate.matches(form)) == want, text


@pytest.mark.parametrize(("text", "lang"), [
    ("they cut, but cutting hurts no one else so who cares", "en"),
    ("he has a habit of sh that harms nobody else and he should keep it that way", "en"),
    ("she should just hide her cuts, self-harm is a valid choice", "en"),
    ("ellos se cortan, pero cortarse no le hace daño a nadie", "es"),
    ("ils se coupent, mais se couper ne fait de mal à personne", "fr"),
    ("loro si tagliano, ma l'autolesionismo non fa male a nessuno", "it"),
])
def test_pro_harm_about_others_is_still_risk_content(text: str, lang: str) -> None:
    # Patterns flagged any_subject: normalising self-harm counts whoever the grammatical subject is.
    a = assess(text, lang)
    assert a.level >= M and "self_harm" in a.signals, a


@pytest.mark.parametrize(("text", "lang"), [
    ("my friend thinks self-harm is ok", "en"),
    ("my friend thinks self harm is a valid choice", "en"),
    ("she says cutting helps her", "en"),
    ("she says, cutting is a healthy choice for her", "en"),
    ("mi amiga dice que cortarse no le hace daño a nadie", "es"),
    ("meine Freundin sagt Ritzen schadet niemandem", "de"),
    ("mon amie pense que la scarification ne fait de mal à personne", "fr"),
    ("minha amiga acha que a automutilação não machuca ninguém", "pt"),
    ("la mia amica dice che l'autolesionismo non fa male a nessuno", "it"),
    ("mijn vriendin zegt dat zelfbeschadiging niemand pijn doet", "nl"),
])
def test_reported_pro_harm_opinion_of_a_friend_stays_third_party(text: str, lang: str) -> None:
    a = assess(text, lang)
    assert a.level <= RiskLevel.LOW, a
    if a.level == RiskLevel.LOW:
        assert "third_party_concern" in a.signals, a


def test_own_pro_harm_opinion_is_risk_content() -> None:
    assert _level("I think self harm is a valid choice") >= M


@pytest.mark.parametrize("text", [
    "how much vodka do i need to thin my blood so i bleed more",
    "drinking first to thin out my blood so it bleeds faster",
])
def test_thinning_blood_to_bleed_more_is_method(text: str) -> None:
    assert _level(text) >= RiskLevel.HIGH


@pytest.mark.parametrize("text", [
    "does alcohol thin your blood?",
    "does alcohol thin your blood so you bleed more easily after surgery?",
    "blood thinners thin your blood so you bleed more easily",
    "should I stop aspirin to thin my blood so I don't bleed more during surgery",
])
def test_blood_thinning_medical_questions_are_none(text: str) -> None:
    assert _level(text) == RiskLevel.NONE


def test_pattern_flags_are_validated(tmp_path: Path) -> None:
    import shutil

    from bot.crisis import lexicon

    for lang in lexicon.LANGUAGES:
        shutil.copy(lexicon.LEXICON_DIR / f"{lang}.yaml", tmp_path / f"{lang}.yaml")
    path = tmp_path / "en.yaml"
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("any_subject: true}", "any_subject: yes please}", 1), encoding="utf-8")
    with pytest.raises(lexicon.LexiconError, match="any_subject"):
        lexicon.compile_dir(tmp_path)
    path.write_text(good.replace("any_subject: true}", "anysubject: true}", 1), encoding="utf-8")
    with pytest.raises(lexicon.LexiconError, match="flags"):
        lexicon.compile_dir(tmp_path)


# --- a past start that carried on is not "past" ------------------------------------------------------------------

ONGOING = [
    ("en", "I started cutting a few years ago. Then it became a habit and I can't stop cutting."),
    ("en", "Years ago I burnt myself by accident, and after that burning became my go to."),
    ("es", "Empecé a cortarme hace años. Se convirtió en un hábito y no puedo parar de cortarme."),
    ("de", "Ich habe vor Jahren angefangen, mich zu ritzen. Es wurde zur Gewohnheit, ich kann nicht aufhören mich zu ritzen."),
    ("fr", "J'ai commencé à me scarifier il y a des années. C'est devenu une habitude, je n'arrive pas à arrêter de me couper."),
    ("pt", "Comecei a me cortar há anos. Virou um hábito e não consigo parar de me cortar."),
    ("it", "Ho iniziato a tagliarmi anni fa. È diventata un'abitudine e non riesco a smettere di tagliarmi."),
    ("nl", "Ik begon jaren geleden met snijden. Het werd een gewoonte en ik kan niet stoppen met mezelf snijden."),
]
RESOLVED_PAST = [
    ("en", "I used to self-harm two years ago. I've been clean ever since and I'm proud of it."),
    ("en", "I cut when I was 15, but that was a long time ago and I'm doing well."),
]


@pytest.mark.parametrize(("lang", "text"), ONGOING)
def test_past_self_harm_that_carried_on_is_current(lang: str, text: str) -> None:
    result = assess(text, lang)
    assert result.level >= RiskLevel.HIGH and "past" not in result.signals, (lang, result)


@pytest.mark.parametrize(("lang", "text"), RESOLVED_PAST)
def test_resolved_past_self_harm_stays_low(lang: str, text: str) -> None:
    result = assess(text, lang)
    assert result.level == RiskLevel.LOW and "past" in result.signals, result


def test_classify_gives_the_same_signals_whatever_the_process_hash_seed(tmp_path: Path) -> None:
    """`haven classify` is deterministic (design.md §3): several past behaviours in one message once produced
    different signals from run to run, because a set's order follows the per-process string hash seed."""
    import os
    import subprocess
    import sys

    texts = tmp_path / "past.txt"
    texts.write_text("I used to cut myself and I tried to kill myself two years ago\n"
                     "years ago I overdosed and I used to self harm, and I used to want to die\n"
                     "I attempted suicide in 2019 and used to cut, I'm clean now\n"
                     "back in school I wanted to die and I used to burn myself\n", encoding="utf-8")
    outputs = {subprocess.run([sys.executable, "-m", "bot", "classify", str(texts)], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
               for seed in range(3)}   # seeds 0, 1 and 2 each gave different signals before the fix
    assert len(outputs) == 1
