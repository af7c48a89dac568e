"""Telegram-only wording: the command menu (setMyCommands) and the short neutral notes shown in groups.

These strings describe Telegram's own surface, not the conversation, so they live beside the adapter. The
translations were drafted with AI help and need native review, like the message catalogs. Group notes are
deliberately neutral: anyone in the group can read them, so they never hint at why someone talks to Haven.
"""

from __future__ import annotations

#: Commands in menu order; the core owns what each does (the adapter passes the text through).
COMMANDS: tuple[str, ...] = ("start", "help", "resources", "safetyplan", "skills", "mood", "screen", "ideas",
                             "book", "appointments", "settings", "about", "mydata", "forget")

COMMAND_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "en": {"start": "Start: what Haven is and how your data is used", "help": "What I can do",
           "resources": "Helplines and services near you", "safetyplan": "Your safety plan",
           "skills": "Short exercises for stress, worry and sleep", "mood": "Note your mood and see your month",
           "screen": "A short wellbeing questionnaire", "ideas": "Suggestions that fit you",
           "book": "Book a session with a counsellor", "appointments": "Your appointments",
           "settings": "Language, country and reminders", "about": "About Haven and its limits",
           "mydata": "See or export what Haven keeps", "forget": "Erase everything Haven keeps about you"},
    "es": {"start": "Empezar: qué es Haven y cómo usa tus datos", "help": "Qué puedo hacer",
           "resources": "Líneas de ayuda y servicios cerca de ti", "safetyplan": "Tu plan de seguridad",
           "skills": "Ejercicios breves para el estrés, la preocupación y el sueño",
           "mood": "Anota tu ánimo y mira tu mes", "screen": "Un breve cuestionario de bienestar",
           "ideas": "Sugerencias para ti", "book": "Reservar una sesión con un consejero",
           "appointments": "Tus citas",
           "settings": "Idioma, país y recordatorios", "about": "Sobre Haven y sus límites",
           "mydata": "Ver o exportar lo que guarda Haven", "forget": "Borrar todo lo que Haven guarda de ti"},
    "de": {"start": "Start: was Haven ist und wie deine Daten genutzt werden", "help": "Was ich kann",
           "resources": "Hilfetelefone und Angebote in deiner Nähe", "safetyplan": "Dein Sicherheitsplan",
           "skills": "Kurze Übungen gegen Stress, Sorgen und Schlafprobleme",
           "mood": "Stimmung notieren und den Monat sehen", "screen": "Ein kurzer Wohlbefindens-Fragebogen",
           "ideas": "Vorschläge, die zu dir passen", "book": "Einen Termin bei einer Beratung buchen",
           "appointments": "Deine Termine",
           "settings": "Sprache, Land und Erinnerungen", "about": "Über Haven und seine Grenzen",
           "mydata": "Ansehen oder exportieren, was Haven speichert",
           "forget": "Alles löschen, was Haven über dich speichert"},
    "fr": {"start": "Commencer : ce qu'est Haven et l'usage de vos données", "help": "Ce que je peux faire",
           "resources": "Lignes d'écoute et services près de chez vous", "safetyplan": "Votre plan de sécurité",
           "skills": "Exercices courts contre le stress, l'inquiétude et l'insomnie",
           "mood": "Noter votre humeur et voir votre mois", "screen": "Un court questionnaire de bien-être",
           "ideas": "Des suggestions pour vous", "book": "Réserver une séance avec un conseiller",
           "appointments": "Vos rendez-vous",
           "settings": "Langue, pays et rappels", "about": "À propos de Haven et de ses limites",
           "mydata": "Voir ou exporter ce que Haven conserve",
           "forget": "Effacer tout ce que Haven conserve sur vous"},
    "pt": {"start": "Começar: o que é o Haven e como usa os seus dados", "help": "O que posso fazer",
           "resources": "Linhas de apoio e serviços perto de si", "safetyplan": "O seu plano de segurança",
           "skills": "Exercícios curtos para stress, preocupação e sono",
           "mood": "Registar o humor e ver o seu mês", "screen": "Um breve questionário de bem-estar",
           "ideas": "Sugestões para si", "book": "Marcar uma sessão com um conselheiro",
           "appointments": "As suas consultas",
           "settings": "Idioma, país e lembretes", "about": "Sobre o Haven e os seus limites",
           "mydata": "Ver ou exportar o que o Haven guarda", "forget": "Apagar tudo o que o Haven guarda sobre si"},
    "it": {"start": "Inizia: cos'è Haven e come usa i tuoi dati", "help": "Cosa posso fare",
           "resources": "Linee d'ascolto e servizi vicino a te", "safetyplan": "Il tuo piano di sicurezza",
           "skills": "Brevi esercizi per stress, preoccupazioni e sonno",
           "mood": "Annota il tuo umore e guarda il mese", "screen": "Un breve questionario sul benessere",
           "ideas": "Suggerimenti adatti a te", "book": "Prenota una sessione con un consulente",
           "appointments": "I tuoi appuntamenti",
           "settings": "Lingua, paese e promemoria", "about": "Su Haven e i suoi limiti",
           "mydata": "Vedi o esporta ciò che Haven conserva", "forget": "Cancella tutto ciò che Haven conserva su di te"},
    "nl": {"start": "Start: wat Haven is en hoe je gegevens worden gebruikt", "help": "Wat ik kan doen",
           "resources": "Hulplijnen en diensten bij jou in de buurt", "safetyplan": "Je veiligheidsplan",
           "skills": "Korte oefeningen bij stress, piekeren en slecht slapen",
           "mood": "Je stemming noteren en je maand zien", "screen": "Een korte vragenlijst over welzijn",
           "ideas": "Suggesties die bij je passen", "book": "Een gesprek met een hulpverlener boeken",
           "appointments": "Je afspraken",
           "settings": "Taal, land en herinneringen", "about": "Over Haven en zijn grenzen",
           "mydata": "Bekijk of exporteer wat Haven bewaart", "forget": "Wis alles wat Haven over je bewaart"},
}

_GROUP_SENT_PRIVATELY = {
    "en": "I've sent you a private message.", "es": "Te he enviado un mensaje privado.",
    "de": "Ich habe dir eine private Nachricht geschickt.", "fr": "Je vous ai envoyé un message privé.",
    "pt": "Enviei-lhe uma mensagem privada.", "it": "Ti ho inviato un messaggio privato.",
    "nl": "Ik heb je een privébericht gestuurd.",
}
_GROUP_OPEN_PRIVATE = {
    "en": "Let's talk in a private chat: {link}", "es": "Hablemos en un chat privado: {link}",
    "de": "Lass uns privat weiterschreiben: {link}", "fr": "Parlons en message privé : {link}",
    "pt": "Vamos falar numa conversa privada: {link}", "it": "Parliamo in una chat privata: {link}",
    "nl": "Laten we privé verder praten: {link}",
}
_NOT_ALLOWED = {
    "en": "Not allowed here.", "es": "No permitido aquí.", "de": "Hier nicht erlaubt.", "fr": "Non autorisé ici.",
    "pt": "Não permitido aqui.", "it": "Non consentito qui.", "nl": "Hier niet toegestaan.",
}
_EXPIRED = {
    "en": "This button has expired.", "es": "Este botón ha caducado.", "de": "Diese Schaltfläche ist abgelaufen.",
    "fr": "Ce bouton a expiré.", "pt": "Este botão expirou.", "it": "Questo pulsante è scaduto.",
    "nl": "Deze knop is verlopen.",
}


def _pick(table: dict[str, str], locale: str | None) -> str:
    lang = (locale or "en").replace("_", "-").split("-")[0].lower()
    return table.get(lang, table["en"])


def sent_privately(locale: str | None) -> str:
    return _pick(_GROUP_SENT_PRIVATELY, locale)


def open_private(locale: str | None, link: str) -> str:
    return _pick(_GROUP_OPEN_PRIVATE, locale).format(link=link)


def not_allowed(locale: str | None) -> str:
    return _pick(_NOT_ALLOWED, locale)


def expired(locale: str | None) -> str:
    return _pick(_EXPIRED, locale)
