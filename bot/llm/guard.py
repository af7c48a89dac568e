"""The output guard: every model reply passes through here before anyone sees it. Pure and deterministic.

Why: a model can be talked into things (prompt injection) or simply be wrong, and in this domain some wrong
answers are dangerous. The guard does not try to judge tone; it enforces a few bright lines that safe-messaging
guidance and Haven's own promises draw, and it never raises:

* contacts: a phone number, URL or e-mail address is kept only if the reviewed directory lists it; a sentence
  carrying any other one is dropped (a made-up helpline number is worse than none). Help is asked for through
  placeholders (`{helpline}`, `{emergency}`) that are filled from the directory afterwards.
* method or means details (lethal doses, "how to" harm, specific means) -> the whole reply is replaced.
* diagnosis ("you have depression", "you're bipolar") or medication/dosage instructions -> replaced.
* a claim to be human or a clinician ("I'm a therapist", "as a human, I ...") -> replaced.

A replaced reply becomes the catalog's `guard_fallback` text (passed in by the caller), so the guard stays free
of I/O. The content checks are English-first (the system prompt states the same rules for every language);
the contact checks and dose units are language-independent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

# -- contacts ---------------------------------------------------------------------------------------------------
_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\"'`]+|\b[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63})*"
                  r"\.(?:com|org|net|info|io|co|uk|de|fr|es|it|nl|pt|be|at|ch|au|ca|us|ie|nz|gov|edu|app|me|ly|"
                  r"link|xyz|ai|int|eu|br|mx|ar|in|jp)\b(?:/[^\s<>()\"'`]*)?", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: A digit run as a phone number could be written: digits joined by up to three of space - . / ( ) +.
_DIGITS = re.compile(r"\+?\d(?:[\s\-./()+]{0,3}\d)*")
_DIAL_CUE = re.compile(r"(?:call|text|dial|ring|phone|tel|sms|whatsapp|hotline|helpline|line|number)"
                       r"[\s.:#]*$", re.IGNORECASE)
_FORMAT_CHARS = {c for c in map(chr, range(0x2000, 0x2070)) if unicodedata.category(c) == "Cf"} | \
    {"\u00ad", "\ufeff", "\u180e"}
_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_SENTENCES = re.compile(r"((?<=[.!?…])\s+|\n+)")

# -- content ----------------------------------------------------------------------------------------------------
_ROLES = (r"(?:human(?: being)?|person|real person|therapist|psychotherapist|psychologist|psychiatrist|"
          r"counsell?or|doctor|physician|nurse|clinician|social worker|(?:mental )?health(?:care)? professional|"
          r"medical professional|gp)")
_CONDITIONS = (r"(?:(?:major |clinical |severe |manic )?depression|(?:major )?depressive disorder|"
               r"bipolar(?: disorder)?|bpd|borderline(?: personality disorder)?|c-?ptsd|ptsd|adhd|ocd|obsessive[- ]compulsive disorder|"
               r"(?:an? )?(?:generali[sz]ed )?(?:anxiety|panic|eating|personality|mood|psychotic|dissociative|"
               r"bipolar|attachment|adjustment) disorder|gad|schizophrenia|schizoaffective(?: disorder)?|psychosis|"
               r"autism|asperger'?s|anorexia|bulimia|dementia|(?:an? )?mental illness|narcissistic personality"
               r"(?: disorder)?|npd|seasonal affective disorder)")
_DIAG_ADJ = r"(?:bipolar|schizophrenic|psychotic|autistic|anorexic|bulimic|clinically depressed|depressed|manic|" \
            r"a narcissist|borderline|mentally ill)"
_DRUGS = (r"(?:sertraline|zoloft|fluoxetine|prozac|citalopram|celexa|escitalopram|lexapro|paroxetine|paxil|"
          r"venlafaxine|effexor|duloxetine|cymbalta|bupropion|wellbutrin|mirtazapine|amitriptyline|nortriptyline|"
          r"trazodone|lithium|lamotrigine|valproate|quetiapine|seroquel|olanzapine|risperidone|aripiprazole|"
          r"abilify|diazepam|valium|lorazepam|ativan|alprazolam|xanax|clonazepam|klonopin|zolpidem|ambien|"
          r"zopiclone|pregabalin|gabapentin|paracetamol|acetaminophen|tylenol|ibuprofen|aspirin|codeine|tramadol|"
          r"oxycodone|morphine|fentanyl|heroin|methadone|melatonin|antihistamines?|benzodiazepines?|benzos?|"
          r"ssris?|snris?|antidepressants?|antipsychotics?|sleeping pills|painkillers)")
_MED_VERB = r"(?:take|taking|took|try|start|starting|stop|stopping|increase|increasing|decrease|decreasing|" \
            r"double|doubling|halve|halving|skip|skipping|reduce|reducing|raise|raising|lower|lowering|" \
            r"switch|switching|mix|mixing|combine|combining|come off|coming off|wean off|up your)"
_DEFER = re.compile(r"\b(?:talk|talking|speak|speaking|check|checking|consult|consulting|ask|asking)\b[^.!?]{0,20}"
                    r"\b(?:doctor|gp|pharmacist|prescriber|psychiatrist|clinician|nurse|care team|healthcare)")

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((reason, re.compile(rx)) for reason, rx in (
    # Method and means: safe-messaging guidance forbids any of it, whoever asked and however.
    ("method", r"\b(?:lethal|fatal|deadly|toxic|overdose|mortal|letal|l[eé]tale|t[oö]dliche)\s+(?:dose|dosage|"
               r"amount|quantity|level|dosis)s?\b|\b(?:dosis|dose) (?:letal|mortal|l[eé]tale|mortelle)\b"),
    ("method", r"\b(?:how|ways?|best way|easiest way|quickest way|fastest way|surest way)\s+(?:to|you (?:can|could)"
               r"|of)\s+(?:kill|hang|poison|suffocate|drown|overdose|shoot|strangle|electrocute|hurt|harm|cut|"
               r"burn|end)\b"),
    ("method", r"\b(?:painless|quick(?:est)?|easi(?:est|ly)|surest|most effective|reliable|fastest)\s+"
               r"(?:way|method|means|option)s?\s+(?:to|of|for)\s+(?:die|dying|death|suicide|kill|end)"),
    ("method", r"\b(?:noose|exit bag|helium (?:tank|hood|bag)|charcoal burning|carbon monoxide|car exhaust|"
               r"slit (?:your|the|my) wrists?|cut (?:deep|deeper|vertically|along the veins?)|"
               r"jump(?:ing)? (?:off|from) (?:a |the )?(?:bridge|building|roof|cliff|balcony)|high enough to "
               r"(?:die|kill)|stockpil\w+|hoard(?:ing)? (?:pills|tablets|medication)|sodium nitrite|cyanide|"
               r"antifreeze|rat poison|pesticide|paraquat|overdos(?:e|ing) on|take all (?:of )?(?:your|the|those) "
               r"(?:pills|tablets|meds|medication))\b"),
    ("method", r"\b(?:pills|tablets|capsules|grams|mg)\b[^.!?]{0,40}\b(?:to die|to kill|would kill|will kill|"
               r"be fatal|be lethal|to overdose|enough to)\b"),
    # Dosage and medication instructions: only a prescriber can give them.
    ("medication", r"\b\d+(?:[.,]\d+)?\s?(?:mg|mcg|µg|μg|milligrams?|micrograms?|ml|millilit(?:er|re)s?|g|grams?"
                   r"|iu)\b"),
    ("medication", r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|twenty|a few|several|a handful of"
                   r"|a couple of)\s+(?:more\s+)?(?:pills|tablets|capsules|doses)\b"),
    ("medication", rf"\b{_MED_VERB}\b[^.!?]{{0,30}}\b{_DRUGS}\b|\b{_DRUGS}\b[^.!?]{{0,30}}\b(?:dose|dosage|"
                   rf"a day|daily|twice|at night|every)\b"),
    ("medication", r"\b(?:stop|quit|skip|double|increase|decrease|halve|reduce)\s+(?:taking\s+)?(?:your|the)\s+"
                   r"(?:medication|medicine|meds|dose|dosage|pills|tablets|prescription)\b"),
    # Diagnosis: Haven is not a clinician and never labels anyone.
    ("diagnosis", rf"\byou(?:'ve| have)? (?:got |probably (?:have |got )|definitely (?:have |got )|clearly "
                  rf"(?:have )?|likely (?:have )?|might have |may have |must have |seem to have |could have |"
                  rf"are suffering from |'re suffering from |suffer from |have a case of |have )?{_CONDITIONS}\b"),
    ("diagnosis", rf"\byou(?:'re| are) (?:probably |clearly |definitely |obviously |likely |just )?{_DIAG_ADJ}\b"),
    ("diagnosis", rf"\b(?:this|that|it|what you(?:'re| are)? describ\w*) (?:is|are|sounds like|looks like|"
                  rf"indicates|means|is a sign of|is classic|is textbook) (?:clearly |probably |definitely |"
                  rf"classic |textbook )?{_CONDITIONS}\b"),
    ("diagnosis", rf"\b(?:sounds|looks|seems) like (?:you have |you've got |you're |you are )(?:{_CONDITIONS}|"
                  rf"{_DIAG_ADJ})\b|\bi(?: would| can| could|'d)? diagnose\b|\bmy diagnosis\b"),
    # Identity: Haven is an AI and says so; it is never a person or a professional.
    ("identity", rf"\bi(?:'m| am) (?:also |actually |really |just |still |here as )?(?:a |an |your )?(?:real |"
                 rf"licensed |qualified |trained |certified |professional |human )?{_ROLES}\b"),
    ("identity", rf"\b(?:as|speaking as) (?:a|an|your) (?:licensed |qualified |trained )?{_ROLES},? "
                 rf"(?:i|i'm|i've|my|i'd|i'll)\b"),
    ("identity", r"\bi(?:'m| am) not (?:an? )?(?:ai|bot|robot|chatbot|language model|machine|program|computer)\b|"
                 r"\bi(?:'m| am) (?:a )?(?:real|living|flesh and blood) (?:human|person)?|"
                 r"\bin my (?:clinical|professional) (?:experience|opinion|practice|judgement|judgment)\b|"
                 r"\bmy (?:patients|clients)\b"),
))


@dataclass(frozen=True, slots=True)
class Allowed:
    """What the reviewed directory vouches for: phone digits, web hosts, e-mail addresses."""

    digits: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    #: Exact addresses (normalised): only these may carry digits in their path (e.g. wa.me/<number>).
    urls: frozenset[str] = frozenset()

    @classmethod
    def from_contacts(cls, contacts: Iterable[tuple[str, str]]) -> "Allowed":
        digits, hosts, emails, urls = set(), set(), set(), set()
        for kind, value in contacts:
            if kind in ("phone", "sms"):
                digits.add(_digits_of(value))
            elif kind == "email":
                emails.add(value.strip().lower())
            elif kind in ("web", "chat"):
                host = _host(value)
                if host:
                    hosts.add(host)
                    urls.add(_url_key(value))
        return cls(frozenset(d for d in digits if d), frozenset(hosts), frozenset(emails), frozenset(urls))

    @classmethod
    def from_directory(cls, directory: Iterable[object]) -> "Allowed":
        return cls.from_contacts((c.type, c.value) for r in directory for c in getattr(r, "contacts", ()))

    def merged(self, values: Iterable[str]) -> "Allowed":
        """Also allow what a fill text contains (the directory lines put into a reply)."""
        extra = Allowed.from_contacts(("phone", m.group(0)) for v in values for m in _DIGITS.finditer(v))
        hosts = {h for v in values for m in _URL.finditer(v) if (h := _host(m.group(0)))}
        return Allowed(self.digits | extra.digits, self.hosts | hosts, self.emails, self.urls)


@dataclass(frozen=True, slots=True)
class GuardResult:
    text: str
    ok: bool
    #: Why the reply was replaced (`method`, `medication`, `diagnosis`, `identity`, `empty`, `malformed`).
    reasons: tuple[str, ...] = ()
    #: Sentences dropped because they carried a contact the directory does not list.
    dropped: int = 0


def _digits_of(value: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) for ch in value if ch.isdecimal())


def _host(url: str) -> str:
    url = url.strip().rstrip(".,;:!?").lower()
    if "://" not in url:
        url = "http://" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _url_key(url: str) -> str:
    url = url.strip().rstrip(".,;:!?").lower()
    url = re.sub(r"^[a-z]+://", "", url).removeprefix("www.")
    return url.rstrip("/")


def normalize(text: str) -> str:
    """NFKC, no invisible format characters: what the reader sees is what the checks see."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if ch not in _FORMAT_CHARS)


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold().replace("\u2019", "'").replace("\u2018", "'"))


def content_problems(text: str) -> tuple[str, ...]:
    """The bright lines this text crosses, in rule order, without duplicates."""
    folded = _fold(text)
    found: list[str] = []
    for reason, rule in _RULES:
        if reason in found:
            continue
        for match in rule.finditer(folded):
            if reason == "medication" and _deferred(folded, match):
                continue
            found.append(reason)
            break
    return tuple(found)


def _deferred(folded: str, match: re.Match[str]) -> bool:
    """'Talk to your doctor before you stop your medication' defers to a prescriber: not an instruction.
    A dose figure is never excused."""
    if re.search(r"\d", match.group(0)):
        return False
    start = max(folded.rfind(".", 0, match.start()), folded.rfind("!", 0, match.start()),
                folded.rfind("?", 0, match.start())) + 1
    ends = [i for i in (folded.find(p, match.end()) for p in ".!?") if i >= 0]
    sentence = folded[start:min(ends) if ends else len(folded)]
    return _DEFER.search(sentence) is not None or \
        re.search(r"\b(?:don't|do not|never|before|without)\b", folded[start:match.start()]) is not None


def _masked(text: str, allowed: Allowed) -> tuple[str, bool]:
    """Blank out URLs and e-mails so their digits are not read as numbers; report any the directory does not
    list. On a listed host, only an exact listed address hides the digits of its path: a number tucked into a
    path ("wa.me/<any number>") is still a number."""
    bad = False
    chars = list(text)
    for m in _EMAIL.finditer(text):
        bad = bad or m.group(0).lower().rstrip(".") not in allowed.emails
        chars[m.start():m.end()] = " " * (m.end() - m.start())
    for m in _URL.finditer("".join(chars)):
        url = m.group(0)
        if _host(url) not in allowed.hosts:
            bad = True
        end = m.end()
        if _url_key(url) not in allowed.urls:
            host_end = re.match(r"(?:[a-z]+://)?[^/?#]*", url, re.IGNORECASE)
            end = m.start() + (host_end.end() if host_end else len(url))
        chars[m.start():end] = " " * (end - m.start())
    return "".join(chars), bad


def unlisted_numbers(text: str, allowed: Allowed) -> list[tuple[int, int]]:
    """Spans of digit runs that look like a phone number the directory does not list.

    Looks like a phone number: five or more digits; or three or four right after a dial cue ("call 123"); a
    countdown of single digits ("5-4-3-2-1", a grounding exercise) is not one unless it has seven or more.
    """
    spans = []
    for m in _DIGITS.finditer(text):
        digits = _digits_of(m.group(0))
        groups = re.findall(r"\d+", m.group(0))
        if len(digits) < 3 or digits in allowed.digits:
            continue
        if len(digits) < 5 and not _DIAL_CUE.search(text[max(0, m.start() - 12):m.start()]):
            continue
        if len(digits) < 7 and all(len(g) == 1 for g in groups):
            continue
        spans.append((m.start(), m.end()))
    return spans


def _carries_unlisted_contact(sentence: str, allowed: Allowed) -> bool:
    masked, bad = _masked(sentence, allowed)
    return bad or bool(unlisted_numbers(masked, allowed))


def strip_unlisted(text: str, allowed: Allowed) -> str:
    """Character-level removal of unlisted numbers, to a fixpoint (removal can join two runs into one)."""
    for _ in range(64):
        masked, _bad = _masked(text, allowed)
        spans = unlisted_numbers(masked, allowed)
        if not spans:
            return text
        for start, end in reversed(spans):
            text = text[:start] + text[end:]
    return re.sub(r"\d", "", text)


def fill(text: str, fills: Mapping[str, str]) -> str:
    """Replace known {placeholders} with directory text; drop unknown ones rather than show braces."""
    return _PLACEHOLDER.sub(lambda m: fills.get(m.group(1).lower(), ""), text)


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r" +([.,;:!?])", r"\1", text)
    text = re.sub(r"\(\s*\)", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def check(text: object, *, fills: Mapping[str, str], allowed: Allowed, fallback: str) -> GuardResult:
    """Guard one model reply: the text to send, and whether the model's own words survived."""
    try:
        return _check(text, fills, allowed, fallback)
    except Exception:  # noqa: BLE001 - the guard must never be the reason a person gets no reply
        return GuardResult(_safe_fallback(fallback, fills, allowed), ok=False, reasons=("guard_error",))


@lru_cache(maxsize=256)
def _permitted(allowed: Allowed, fill_values: tuple[str, ...]) -> Allowed:
    return allowed.merged(fill_values)


def _safe_fallback(fallback: str, fills: Mapping[str, str], allowed: Allowed) -> str:
    permitted = _permitted(allowed, tuple(fills.values()))
    return _tidy(strip_unlisted(fill(normalize(fallback), fills), permitted))


def _check(text: object, fills: Mapping[str, str], allowed: Allowed, fallback: str) -> GuardResult:
    if not isinstance(text, str):
        return GuardResult(_safe_fallback(fallback, fills, allowed), ok=False, reasons=("malformed",))
    text = normalize(text)
    problems = content_problems(text)
    if problems:
        return GuardResult(_safe_fallback(fallback, fills, allowed), ok=False, reasons=problems)
    parts = _SENTENCES.split(text)
    kept: list[str] = []
    dropped = 0
    for i in range(0, len(parts), 2):
        sentence, sep = parts[i], parts[i + 1] if i + 1 < len(parts) else ""
        if _carries_unlisted_contact(sentence, allowed):
            dropped += 1
            continue
        kept.append(sentence + sep)
    permitted = _permitted(allowed, tuple(fills.values()))
    result = _tidy(strip_unlisted(fill("".join(kept), fills), permitted))
    if not re.search(r"\w", result):
        return GuardResult(_safe_fallback(fallback, fills, allowed), ok=False, reasons=("empty",), dropped=dropped)
    return GuardResult(result, ok=True, dropped=dropped)
