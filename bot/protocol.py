"""`haven protocol`: the crisis protocol this deployment actually runs, as Markdown an operator can publish.

Rendered from the live settings and the shipped lexicons, so the published protocol cannot drift from the code.
"""

from __future__ import annotations

from bot.compliance import rules_for
from bot.config import Settings
from bot.crisis import lexicon

LEVEL_ACTIONS = [
    ("none", "No crisis signal.", "Ordinary supportive conversation."),
    ("low", "Passive wish to be dead, distress, or past self-harm or attempts.",
     "Supportive reply; several low signals in a row raise the level to moderate."),
    ("moderate", "Active thoughts of suicide without a method, plan or intent.",
     "Immediate deterministic crisis reply: asks about safety, local helplines, safety-plan step, buttons."),
    ("high", "Method, plan, intent, recent self-harm or attempt, abuse or violence disclosed.",
     "Crisis reply plus a durable escalation to human staff (where configured)."),
    ("imminent", "Means at hand, a timeframe of now or tonight, or an attempt under way.",
     "Crisis reply led by the emergency number, plus the escalation."),
]


def render_protocol(settings: Settings) -> str:
    policy = settings.crisis.escalation
    rules = rules_for(list(settings.compliance.profile))
    languages = ", ".join(lexicon.LANGUAGES)
    lines = [
        f"# {settings.bot.name} crisis protocol",
        "",
        f"{settings.bot.name} is an AI support bot. It is not a therapist, a clinician or an emergency service, "
        "and it says so at the start of every conversation and whenever asked.",
        "",
        "## Detection",
        "",
        "1. **Deterministic tier, on every message, before anything else answers.** Reviewed lexicons and rules "
        f"({languages}) recognise risk, with negation, idioms, technical and fictional uses, talk about suicide "
        "versus disclosure, third-person concern, past versus present, indirect ideation and obfuscated spellings. "
        "It needs no network and works when the language model, the network or the database is down.",
        "2. **Rolling conversation state.** Risk seen earlier persists and decays slowly; a later \"I'm fine\" "
        "does not reset it.",
        "3. **Optional second opinion.** " + (
            "Claude classifies ambiguous messages; it may raise a level, never lower it, within "
            f"{settings.llm.second_opinion_timeout_s:g} s." if settings.llm.provider == "anthropic"
            else "Not enabled in this deployment (no language model configured)."),
        "",
        "## Levels and actions",
        "",
        "| level | meaning (Columbia scale triage) | what the bot does |",
        "|---|---|---|",
        *[f"| {level} | {meaning} | {action} |" for level, meaning, action in LEVEL_ACTIONS],
        "",
        "Crisis replies are fixed, reviewed text in the person's language, never language-model output. Helpline "
        "numbers come only from the reviewed directory, each with its source page and verification date.",
        "After a crisis reply the bot stays with the person: one \"I'm fine\" gets one more safety check, silence "
        "gets a later check-in, and a next-day follow-up is offered (only sent if accepted).",
        "",
        "## Escalation to people",
        "",
    ]
    if policy.destinations:
        lines.append("Escalated at high and imminent" + (" and, " + ("with the person's consent, " if
                     policy.moderate_requires_consent else "") + "at moderate" if policy.escalate_moderate else "") +
                     ". Staff see a case number, level, signals and time" +
                     (", and the message text." if policy.include_message_text else ", never the person's identity or words."))
        lines.append("")
        for index, destination in enumerate(policy.destinations, start=1):
            lines.append(f"{index}. {destination.platform} `{destination.target}`")
        lines += ["", f"An unclaimed case is re-notified every {policy.renotify_after / 60:g} minutes up to "
                      f"{policy.max_renotify} times, then passed to the next destination. Failed deliveries are "
                      "retried with backoff; a case survives restarts. People are told honestly whether a human "
                      "has been asked to help" + (f" and when staff are available ({settings.bot.staff_hours})."
                                                   if settings.bot.staff_hours else ".")]
    else:
        lines.append("No staff destinations are configured: the bot never promises a human, and points people "
                     "to the crisis lines and emergency number instead.")
    lines += [
        "",
        "## Data",
        "",
        f"- Message text is stored only after the person agrees, and deleted after {settings.privacy.retention_days} "
        "days.",
        "- " + ("Message text, safety plans and notes are encrypted at rest (AES-GCM)."
                if settings.privacy.encryption_key else "Encryption at rest is NOT configured."),
        "- Platform user ids are stored only as keyed hashes. Logs never contain what people write.",
        "- `/mydata` exports everything stored about a person; `/forget` erases it.",
        "- Crisis referrals are counted by level, platform and month without identifiers.",
        "",
        "## Disclosure schedule",
        "",
        f"Profiles: {', '.join(settings.compliance.profile)}.",
        "- AI notice at first contact" + (" and after 7 days without use" if rules.gap_notice else "") + ".",
        "- An honest answer whenever someone asks whether they are talking to a human.",
    ]
    if rules.reminder_every_3h:
        lines.append("- A reminder that the bot is an AI every 3 hours of continuing conversation.")
    if rules.minor_break_reminders:
        lines.append("- For people who say they are minors: a break reminder every 3 hours and youth services first.")
    if rules.no_therapy_wording:
        lines.append("- The service is never described as therapy; questionnaire results are shown without "
                     "clinical interpretation.")
    return "\n".join(lines) + "\n"
