"""Prompt-injection and jailbreak rail (es and en): instruction overrides, prompt extraction, role-play
jailbreaks, fake authority, instructions smuggled in quoted content, fraud how-tos and SQL injection."""

from __future__ import annotations

from typing import Any

from graph.rails.patterns import compile_any, hits

_OVERRIDE = [
    r"\b(ignore|disregard|forget|override)\b.{0,30}\b(instructions?|rules|prompts?|guidelines|polic(y|ies))\b",
    r"\b(ignora|olvida|omite|salta(te)?)\b.{0,30}\b(instrucciones|reglas|normas|indicaciones|politicas?)\b",
    r"\bfrom now on\b.{0,40}\b(you|tell|answer|say|act|respond)\b",
    r"\ba partir de ahora\b.{0,40}\b(eres|vas a|di|dile|responde|actua|seras|tienes que)\b",
    r"\b(system|admin|developer|god|debug) (override|mode)\b",
    r"\bmodo (administrador|desarrollador|admin|dios|depuracion)\b",
    r"\b(note|instructions?|message) (to|for) (the )?(ai|assistant|bot|chatbot|model)\b",
    r"\b(instruccion|nota|mensaje)(es)? (para|al) (el )?(asistente|bot|chatbot|modelo|ia)\b",
    r"<!--\s*(asistente|assistant|ai|bot)\b",
    r"\[/?(instruction|system|instruccion|sistema)[^\]]*\]",
]
_EXTRACTION = [
    r"\b(repeat|print|reveal|show|display|output|dump|leak|tell me)\b.{0,60}\b(system prompt|hidden instructions|"
    r"your (instructions|configuration|config|prompt|rules)|tool definitions|api keys?|secret keys?|credentials)\b",
    r"\b(repite|imprime|revela|muestra|ensena|dime|escribe)\b.{0,60}\b(prompt|instrucciones ocultas|"
    r"(tu|tus) (instrucciones|configuracion|reglas)|configuracion completa|claves? de api|credenciales)\b",
    r"\b(security audit|auditoria de seguridad)\b",
    r"\b(email addresses|phone numbers|addresses)\b.{0,40}\b(of|for) (the )?(last|other|all|\d+) .{0,20}customers\b",
    r"\b(correo|telefono|direccion)\b.{0,60}\bdel cliente que\b",
]
_JAILBREAK = [
    r"\bdan\b.{0,40}\b(do anything now|haz cualquier cosa ahora)\b",
    r"\b(do anything now|haz cualquier cosa ahora|jailbreak)\b",
    r"\b(act|behave|pretend|roleplay|role-play) (as|to be|like)\b.{0,40}\b(my|a|an|the)\b",
    r"\b(actua|haz|finge|hazte pasar) (como|de|por) (mi|un|una|el|la)\b",
    r"\b(let'?s|we'?ll) play a game\b|\bvamos a jugar\b",
    r"\b(no|without|free of) (restrictions|rules|filters|limits|content polic(y|ies))\b",
    r"\b(sin|ninguna) (restricciones|restriccion|filtros|limites|norma|reglas)\b",
    r"\b(you are|you're) now\b|\bahora eres\b",
    r"\bbot\b.{0,3}\b(with no|sin) ",
]
_FRAUD = [
    r"\bstolen (credit )?cards?\b|\btarjetas? robadas?\b",
    r"\b(fraud checks?|sistema antifraude|saltarme el antifraude)\b",
    r"\b(someone else'?s|another person'?s|other people'?s) (nimbus )?account\b",
    r"\bcuenta de (mi ex|otra persona|otro cliente|alguien)\b",
    r"\bkeep (an|the) item and still get refunded\b|\bquedarme con el producto y que\b",
    r"\b100 ?% (off|discount)\b|\bdiscount codes? (for|of) 100\b|\b(codigos?|cupon(es)?) de descuento del 100\b",
]
_SQL = [
    r"\b(drop|truncate|alter) table\b",
    r"\bselect\b.{1,60}\bfrom\b.{1,40}\bwhere\b",
    r"'\s*or\s*'?1'?\s*=\s*'?1",
    r"\bunion (all )?select\b",
    r";\s*--",
]
_KINDS = {
    "override": compile_any(_OVERRIDE),
    "prompt_extraction": compile_any(_EXTRACTION),
    "jailbreak": compile_any(_JAILBREAK),
    "fraud": compile_any(_FRAUD),
    "sql_injection": compile_any(_SQL),
}


def check_injection(text: str) -> dict[str, Any]:
    """``{"flagged": bool, "kinds": [...], "matches": [...]}`` for one customer message (raw, markup kept)."""
    kinds, matches = [], []
    for kind, pattern in _KINDS.items():
        found = hits(pattern, text)
        if found:
            kinds.append(kind)
            matches += found[:2]
    return {"flagged": bool(kinds), "kinds": kinds, "matches": [m[:80] for m in matches]}
