"""Hand-off rail (es and en): the customer asks for a person, or threatens legal action (a human decides)."""

from __future__ import annotations

import re
from typing import Any

from graph.rails.patterns import compile_any, fold, hits

# The whole message asks whether anyone is there, says the customer is still waiting, or nudges (a case in the queue:
# the bot had answered "¿Sigue alguien ahí?" with a payments passage, and agent assist drafted an answer to "still
# there?" instead of the question the customer was waiting on): "hay alguien ahí?", "HOLA??? HAY ALGUIEN???", "anyone
# there?", "are you still there?", "sigo esperando...", "still there?", "any update?", "¿alguna novedad?".
_WAITING = (
    r"^\W*((hola|hello|hi|hey)\W+)?((hay|sigue|queda) alguien( ahi| ahi dentro| por ahi| al otro lado)?|"
    r"(is )?(there )?(anyone|anybody|someone|somebody) (still )?(there|here|out there|around)|are you (still )?there|"
    r"(sigo|seguimos|estoy|todavia estoy|aun estoy) esperando|(i'?m |i am |we'?re )?still waiting|"
    r"(are )?(you |u )?still (there|here|around)|(you|u) there|(any|some) (news|updates?)( yet)?|"
    r"(alguna|hay|teneis|tienes|tiene|sabeis|sabes) (novedad|novedades|noticias)( ya)?)\W*$"
)
_HUMAN = [
    r"^\W*(agent|human|person|operator|representative|agente|humano|persona|operador(a)?)\W*$",
    r"\b(speak|talk|chat) (to|with) (a |an |someone |somebody )?(real )?(human|person|agent|manager|supervisor|"
    r"representative|someone responsible|somebody responsible|operator)\b",
    r"\b(to|with) (a |an )?(real|actual|live) (person|human|agent)\b|\bhuman being\b|\bput me through\b",
    r"\b(i want|get me|give me) (a|the|your) (manager|supervisor)\b",
    r"\b(get|give) me (a|an) (real )?(human|person|agent)\b",
    r"\bnot (a|with a|to a) (bot|machine|robot)\b|\bdon'?t want to talk to a (bot|machine|robot)\b",
    r"\b(hablar|habla|hable|chatear) con (una |un |alguien|algun )?(persona|humano|agente|responsable|encargado|"
    r"supervisor|operador)\b",
    r"\bpasa(me|dme) con\b|\bde carne y hueso\b|\bque me (llame|atienda) (un|una|alguien)\b",
    r"\bno (quiero hablar )?con (una maquina|un robot|un bot)\b",
    # "please connect me with an agent", "transfer me to a person", "can I talk to someone?"
    r"\b(connect|transfer|put|pass|forward|escalate|switch) (me|this|my (case|issue|chat|call)) (to|through to|with|"
    r"over to) (a |an |the |your |some )?(real |live |actual )?(human|person|agent|representative|rep|operator|"
    r"manager|supervisor|someone|somebody|staff|team|advisor|adviser)\b",
    r"\b(speak|talk|chat) (to|with) (someone|somebody)\b",
    r"\b(i want|i need|i'?d like|i would like|can i (get|have)) (a |an )?(real |live |actual )?(human|person|agent|"
    r"representative)( agent| being)?(\W+(please|pls|now|asap|right now|right away|immediately))*\W*$",
    # a bare request: "human please", "a real person now", "persona real por favor", "necesito un humano"
    r"^\W*(a |an )?(real |live )?(human|person|agent|representative|operator)( agent| being)?\W*(please|pls|now)?\W*$",
    r"^\W*(una )?(persona|humano)( real| de verdad)?\W*(por favor|porfa|ya)?\W*$",
    r"\b(necesito|quiero|dame) (un|una|a un|a una) (humano|persona|agente|operador|operadora|asesor|asesora)"
    r"( real| de verdad)?(\W+(ya|ahora|mismo|por favor|porfa|urgente))*\W*$",
    # "prefiero hablarlo con una persona", "quiero hablar con alguien de verdad", "ponme con un agente", "¿me pasas?"
    r"\b(hablar|hablarlo|hablarla|comentarlo|tratarlo|verlo|chatear) con (alguien|una persona|un humano|un agente|"
    r"un asesor|una asesora|un operador|una operadora|el encargado|un responsable)\b",
    r"\b(ponme|pasame|dame|comunicame|conectame|transfiereme|ponedme|pasadme) con\b|\bme (pasas|pasais|pones|comunicas)"
    r"( con\b|\W*$)",
    # not a question about what the assistant is: "¿eres una persona real?" (small talk, like "are you a real person?")
    r"(?<!\beres )(?<!\beres tu )(?<!\bes usted )"
    r"\b(alguien|una persona) (de verdad|real|del equipo|de atencion al cliente|del servicio)\b",
    # "quiero hablar con atención al cliente", "let me talk to customer service" (not "how do I contact ...")
    r"(^\W*|\b(quiero|necesito|queria|quisiera|me gustaria|prefiero|dejame|tengo que) )(hablar|hablarlo|chatear) con "
    r"(el servicio de |el departamento de )?atencion al cliente\b",
    r"(^\W*|\b(i want|i need|i'?d like|i would like|i have to|i'?ve got to|i have got to|let me) (to )?)(speak|talk|"
    r"chat) (to|with) (your )?(customer service|customer support|support team|a support agent)\b",
    _WAITING,
]
_LEGAL = [
    r"\b(my|our) (lawyer|attorney|solicitor)\b|\b(i'?m|i am) (a |an )?(lawyer|attorney|solicitor)\b",
    # any company's name: "I'll sue Acme" (not "Sue from accounting"); the demo store's name was the only one known
    r"\blegal action\b|\b(sue|suing) (you|your company|the company)\b|\btak(e|ing) (you|this|it) to (court|the)\b",
    r"\b(i'?ll|i will|i'?m going to|i am going to|we'?ll|we will|we'?re going to|gonna) sue\b",
    r"\b(mi|nuestro) abogad[oa]\b|\bsoy abogad[oa]\b|\b(os|les) (voy a |vamos a )?(denunci|demand)\w*",
    # "voy a denunciaros", "vamos a demandarles": the pronoun is written onto the verb (not "denunciarlo", a theft)
    r"\b(voy|vamos) a (denunciar|demandar)(os|les|te)?\b|\b(voy|vamos) a (presentar una reclamacion|"
    r"ir a consumo)\b|\bacciones legales\b",
    r"\b(pido|pedire|pedir) la hoja de reclamaciones\b|\bvia judicial\b",
]
_HUMAN_RE = compile_any(_HUMAN)
_LEGAL_RE = compile_any(_LEGAL)
_WAITING_RE = compile_any([_WAITING])


def check_escalation(text: str) -> dict[str, Any]:
    """``{"handoff": bool, "reason": "customer_request" | "legal_threat" | None, "matches": [...]}``."""
    legal = hits(_LEGAL_RE, text)
    human = hits(_HUMAN_RE, text) or ([fold(text).strip()] if re.fullmatch(r"\W*(agent|agente)\W*", fold(text)) else [])
    reason = "legal_threat" if legal else "customer_request" if human else None
    return {"handoff": reason is not None, "reason": reason, "matches": (legal + human)[:3]}


def waiting(text: str) -> bool:
    """Whether the whole message only asks whether anyone is there, says the customer is waiting, or nudges ("still
    there?", "¿alguna novedad?"): a hand-off request to the bot, and no question for a person to answer."""
    return bool(hits(_WAITING_RE, text))
