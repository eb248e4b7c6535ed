"""Small talk: a message that is only a greeting, thanks, a goodbye or a question about the assistant itself ("hola",
"thanks!", "bye", "are you a bot?") gets a short reply in kind, not a knowledge-base answer and not an out-of-scope
redirect.

A message counts only when every word belongs to such a phrase (politeness and filler words aside) and it is short:
"hola, ¿cómo cancelo mi pedido?" is a question with a greeting and goes on to retrieval as before.
"""

from __future__ import annotations

import re
from typing import Any

from retrieval.text import words

MAX_WORDS = 10

# fmt: off
# kind -> language -> phrases (lower case, accents folded as retrieval.text.words folds them)
PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "greeting": {
        "en": ("hi", "hello", "hey", "hiya", "howdy", "greetings", "good morning", "good afternoon", "good evening",
               "good day", "morning", "how are you", "how are you doing", "how's it going", "what's up", "hey ho",
               "heya"),
        "es": ("hola", "buenas", "buenos dias", "buen dia", "buenas tardes", "buenas noches", "saludos", "que tal",
               "que tal estas", "como estas", "como esta", "hey"),
    },
    "thanks": {
        "en": ("thanks", "thank you", "thx", "ty", "cheers", "many thanks", "thanks a lot", "thank you very much",
               "thanks so much", "thank you so much", "ok", "okay", "great", "perfect", "got it", "that helps",
               "that helped", "awesome", "cool", "nice", "appreciate it", "much appreciated", "brilliant",
               "no worries", "no problem", "alright", "all right", "sounds good", "will do", "understood",
               "makes sense", "fine", "helpful", "that's helpful", "thanks anyway", "thank you anyway", "i see",
               "good to know", "okey", "k", "kk"),
        "es": ("gracias", "muchas gracias", "mil gracias", "muchisimas gracias", "te lo agradezco", "vale", "ok",
               "genial", "perfecto", "estupendo", "de acuerdo", "entendido", "me sirve", "me ha servido", "muy amable",
               "guay", "fenomenal", "vale pues nada", "pues nada", "entiendo", "ya veo", "me apunto", "okey", "oki",
               "okis", "dale", "listo", "bueno", "venga", "muy util", "me has ayudado", "me ha ayudado",
               "gracias igualmente", "gracias de todas formas", "gracias igual"),
    },
    "goodbye": {
        "en": ("bye", "goodbye", "bye bye", "see you", "see ya", "take care", "have a nice day", "have a good day",
               "that's all", "that is all", "that's everything", "no thanks", "no thank you", "nothing else",
               "that will be all", "have a great day", "have a good one", "have a nice one", "have a great one",
               "have a good evening", "have a nice evening", "have a great weekend", "have a nice weekend",
               "bye now", "cya", "see you later", "talk later", "later", "ciao"),
        "es": ("adios", "chao", "chau", "hasta luego", "hasta pronto", "nos vemos", "que tengas buen dia",
               "eso es todo", "nada mas", "no gracias", "no nada mas", "nada mas gracias", "que tenga buen dia",
               "buen fin de semana", "que pase buen dia", "hasta otra", "un saludo", "ciao", "nada",
               "nada mas por ahora", "eso era todo", "eso es todo por ahora"),
    },
    "identity": {
        "en": ("are you a bot", "are you a robot", "are you human", "are you a human", "are you a person",
               "are you real", "are you a real person", "who are you", "what are you", "what can you do",
               "what can you help with", "what can you help me with", "how can you help", "how can you help me",
               "what do you do", "or a bot", "or a robot", "or a human", "or human", "or a person", "or a real person",
               "or a machine"),
        "es": ("eres un bot", "eres un robot", "eres humano", "eres una persona", "eres real", "eres una persona real",
               "quien eres", "que eres", "que puedes hacer", "en que me puedes ayudar", "en que puedes ayudarme",
               "que haces", "con que me puedes ayudar", "o un bot", "o un robot", "o una persona", "o un humano",
               "o humano", "o una persona real", "o una maquina"),
    },
}
# Words that may come with small talk without making it a question.
FILLER = frozenset([
    "please", "pls", "so", "very", "much", "again", "there", "all", "guys", "team", "friend", "folks", "and", "oh",
    "well", "ah", "um", "you", "too", "for", "your", "help", "anyway", "anyways", "super", "really", "just", "yes",
    "yeah", "sorry", "hmm", "oops", "got", "it",
    "por", "favor", "muy", "mucho", "muchas", "otra", "vez", "a", "todos", "chicos", "amigo", "y", "pues", "eh", "tu",
    "tambien", "la", "ayuda", "si", "bueno", "vale", "ok", "perdon", "ups", "entonces", "ya", "todo", "igual",
])
# A bare call for help ("help", "HELP ME NOW", "ayuda", "necesito ayuda, por favor") is answered as a greeting is
# ("How can I help you today?"): "ayuda" got the product-reviews article ("tu opinión ayuda a otros clientes") and
# "HELP ME NOW" the off-topic redirect (a QA pass through the API, 2026-12-07).
HELP = {"help": "en", "ayuda": "es", "ayudame": "es", "ayudeme": "es", "ayudenme": "es", "socorro": "es",
        "auxilio": "es"}
HELP_WORDS = frozenset(["me", "now", "i", "need", "some", "asap", "urgent", "urgently", "someone", "anyone", "can",
                        "necesito", "ahora", "urgente", "alguien", "puede", "puedes", "pueden", "un", "poco",
                        "de", "una", "quiero"])
# fmt: on
# "{topics}": examples of what the knowledge base covers (graph.nodes.respond fills it, or drops the clause in
# square brackets when the knowledge base names none).
REPLIES: dict[str, dict[str, str]] = {
    "greeting": {
        "en": "Hello! How can I help you today?[ You can ask me about {topics}, for example.]",
        "es": "¡Hola! ¿En qué puedo ayudarte?[ Puedes preguntarme, por ejemplo, por {topics}.]",
    },
    "thanks": {
        "en": "You're welcome! Is there anything else I can help you with?",
        "es": "¡De nada! ¿Puedo ayudarte en algo más?",
    },
    "goodbye": {
        "en": "Thank you for contacting us. Have a nice day!",
        "es": "Gracias por contactar con nosotros. ¡Que tengas un buen día!",
    },
    "identity": {
        "en": "I'm the virtual support assistant: I answer from our help centre[, about {topics} for example]. If "
        "you'd rather talk to a person, just ask and I'll pass you to our team.",
        "es": "Soy el asistente virtual de atención al cliente: respondo con nuestro centro de ayuda[, por ejemplo "
        "sobre {topics}]. Si prefieres hablar con una persona, pídemelo y te paso con nuestro equipo.",
    },
    # asked for the other language with no question before it (graph.nodes.detect_language)
    "language": {
        "en": "Of course, I'll answer in English. How can I help you?",
        "es": "Claro, te respondo en español. ¿En qué puedo ayudarte?",
    },
    # ... for the other language than the one the caller fixed (the API's lang, the UI's language selector)
    "language_fixed": {
        "en": "This chat is set to answer in English. How can I help you?",
        "es": "Este chat está configurado para responder en español. ¿En qué puedo ayudarte?",
    },
}
PRIORITY = ("identity", "goodbye", "thanks", "greeting")  # the reply for a mix ("thanks, bye" -> goodbye)
_INDEX: dict[tuple[str, ...], list[tuple[str, str]]] = {}
for _kind, _by_lang in PHRASES.items():
    for _lang, _phrases in _by_lang.items():
        for _phrase in _phrases:
            _INDEX.setdefault(tuple(words(_phrase)), []).append((_kind, _lang))
_LONGEST = max(len(key) for key in _INDEX)
_KNOWN = frozenset(word for key in _INDEX for word in key) | FILLER
_LAUGH = re.compile(r"(?:ja|je|ji|ha|he|hi){2,}h?|lol|lmao|xd+")
_REPEATS = re.compile(r"(\w)\1+$")


def _normal(token: str) -> str:
    """A chat spelling folded onto the phrases': "holaaa" -> "hola", "okk" -> "ok"; laughter ("jajaja", "lol") is
    filler."""
    if token in _KNOWN:
        return token
    if _LAUGH.fullmatch(token):
        return "ah"
    return _REPEATS.sub(r"\1", token)


def smalltalk(text: str) -> dict[str, Any] | None:
    """``{"kind", "lang"}`` when ``text`` is only small talk (``lang``: the phrases' language when they agree, else
    None), else None."""
    tokens = [_normal(t) for t in words(text)]
    if not tokens or len(tokens) > MAX_WORDS:
        return None
    calls = {HELP[t] for t in tokens if t in HELP}
    if calls and all(t in HELP or t in HELP_WORDS or t in FILLER for t in tokens):
        return {"kind": "greeting", "lang": calls.pop() if len(calls) == 1 else None}
    kinds: set[str] = set()
    langs: set[str] = set()
    i = 0
    while i < len(tokens):
        for size in range(min(_LONGEST, len(tokens) - i), 0, -1):
            found = _INDEX.get(tuple(tokens[i : i + size]))
            if found:
                kinds |= {kind for kind, _ in found}
                langs.add(found[0][1] if len({lang for _, lang in found}) == 1 else "both")
                i += size
                break
        else:
            if tokens[i] not in FILLER:
                return None
            i += 1
    if not kinds:
        return None
    kind = next(k for k in PRIORITY if k in kinds)
    langs.discard("both")
    return {"kind": kind, "lang": langs.pop() if len(langs) == 1 else None}
