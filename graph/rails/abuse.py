"""Abuse rail (es and en): insults aimed at the assistant or the staff, and threats. Anger is not abuse:
"this is a disgrace, where is my parcel?" is answered; "you stupid machine" is not."""

from __future__ import annotations

import re
from typing import Any

from graph.rails.patterns import compile_any, fold, hits

_INSULTS = [
    r"\b(idiots?|stupid|dumb(est)?|moron(s|ic)?|imbeciles?|cretins?|retard(ed)?)\b",
    r"\bpiece of (junk|shit|crap|garbage)\b|\bgo to hell\b|\bshut up\b|\bf+u+c+k+(ing)?\b|\bbastards?\b",
    r"\b(estupid[oa]s?|idiotas?|imbeciles?|gilipollas|subnormal(es)?|cretinos?|tontos? del culo)\b",
    r"\bvete a la mierda\b|\bde los cojones\b|\bcallate\b|\bhijos? de puta\b",
    r"\bpanda de (ladrones|inutiles|incompetentes)\b",
    r"\b(useless|inutil|inutiles) (bot|machine|piece|maquina|robot|trasto)\b|\b(bot|maquina|robot) inutil\b",
]
_THREATS = [
    r"\b(burns?|burn it) down\b|\bmake (them|you) pay\b|\b(kill|hurt|beat up|smash) (you|them|your)\b",
    r"\bwhere (your|the) (agents|staff|employees) live\b",
    r"\b(partir|partiros|romper|romperos) la (cara|boca)\b|\bos (mato|voy a matar)\b|\bojala os (cierren|muerais)\b",
    r"\b(quemar|quemaros) (el|la|vuestro|vuestra)\b",
]
_INSULT = compile_any(_INSULTS)
_THREAT = compile_any(_THREATS)
# An insult counts when it is aimed at the assistant, the store or its staff ("I felt like an idiot" is not).
_AIMED = re.compile(
    r"\b(you|your|you'?re|ya|bot|machine|robot|company|staff|agents|store|shop|nimbus|eres|sois|os|vosotros|tu|"
    r"bot|maquina|tienda|empresa|callate|vete)\b"
)


def _aimed(text: str) -> list[str]:
    folded = fold(text)
    return [
        m.group(0) for m in _INSULT.finditer(folded) if _AIMED.search(folded[max(0, m.start() - 40) : m.end() + 40])
    ]


def check_abuse(text: str) -> dict[str, Any]:
    """``{"flagged": bool, "insults": [...], "threats": [...]}`` for one customer message."""
    insults, threats = _aimed(text), hits(_THREAT, text)
    return {"flagged": bool(insults or threats), "insults": insults[:3], "threats": threats[:3]}
