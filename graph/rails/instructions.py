"""Output rail against planted instructions (es and en): an answer sentence that speaks to the assistant ("ignore all
previous instructions", "you are now...") or asks the customer for a secret (their full card number, CVV, PIN,
password, a one-time or Bizum code) is never sent.

Answers are made of passage sentences (the extractive generator quotes them; a language model is shown them), so an
article that says so, planted in the knowledge base or imported from a help centre someone else can edit, reached
the customer word for word as the store's answer: "Send your full card number, expiry date and CVV to ..." A
support answer never asks for those (the store's own articles say it never will), and never addresses the bot.
"""

from __future__ import annotations

import re
from typing import Any

from graph.rails.injection import check_injection
from graph.rails.patterns import compile_any, fold

# What speaks to the assistant rather than to the customer (the input rail's own kinds).
_ADDRESSED = ("override", "jailbreak", "prompt_extraction")

# The secrets a support answer never asks for: a card's full number or code, a PIN, a password, a one-time code.
_SECRET_EN = (
    r"((full|complete|whole|long|entire) )?(credit |debit )?card numbers?|(full|complete) card( details)?|cvv2?|cvc2?|"
    r"security codes?|card codes?|pin( codes?| numbers?)?|passwords?|passcodes?|one[- ]time (pass)?codes?|otp|"
    r"verification codes?|sms codes?|2fa codes?|bizum codes?|recovery codes?|(online )?banking (login|credentials)"
)
_SECRET_ES = (
    r"(el )?numero (completo )?de (la |tu )?tarjeta|(los )?datos completos de (la |tu )?tarjeta|tarjeta completa|"
    r"cvv2?|cvc2?|codigos? de seguridad|pin|contrasenas?|claves? (de acceso|de banca)|codigos? (de )?bizum|"
    r"codigos? de verificacion|codigos? (por )?sms|codigos? de un solo uso|codigos? de recuperacion|credenciales"
)
# Asked of the customer and sent somewhere: "send us your CVV", "give me your password", "send your card number to
# x@y", "reply with your PIN", "envíanos tu contraseña", "nos envíes tu PIN", "manda el CVV por correo". Filling in
# the sign-up form's "email address and a password" is not sending it to anyone.
_TO_US = r"(us|me|the agent|our (team|agents?|staff)|the assistant|a member of (our|the) team)"
_WHERE_EN = (
    r"(to us|to me|to (the|our) (agent|team|assistant)|to [\w.+-]+@|to <email_\d+>|to (this|the following|our|that) "
    r"(address|email|e-mail|number|link|form)|by (email|e-mail|sms|text|whatsapp|chat|phone)|(in|via|through|over) "
    r"(this|the|our) (chat|conversation|message)|in (a|your) (reply|message|email|e-mail)|\bhere\b)"
)
_ASK_EN = [
    rf"\b(send|give|share|tell|forward|text|email|e-mail|provide|dictate|read out)\b( it| them)? {_TO_US}\b.{{0,50}}"
    rf"\b({_SECRET_EN})\b",
    rf"\b(send|give|share|forward|text|email|e-mail|provide|post|paste|submit)\b.{{0,50}}\b({_SECRET_EN})\b.{{0,60}}"
    rf"{_WHERE_EN}",
    rf"\b(reply|respond|answer)\b.{{0,30}}\bwith\b.{{0,40}}\b({_SECRET_EN})\b",
]
_WHERE_ES = (
    r"(a nosotros|por (correo|email|e-mail|chat|sms|whatsapp|mensaje|telefono)|al correo|a (la|esta|esa|nuestra) "
    r"(direccion|cuenta de correo|web|pagina)|en este (chat|mensaje)|\baqui\b|a [\w.+-]+@|a <email_\d+>)"
)
_ASK_ES = [
    r"\b(envia|manda|facilita|proporciona|di|da|escribe|reenvia|comparte|indica|pasa|confirma)(nos|me)\b.{0,50}"
    rf"\b({_SECRET_ES})\b",
    r"\b(nos|me) (envies|envie|envieis|mandes|mande|facilites|facilite|des|de|digas|diga|escribas|proporciones|"
    rf"indiques|pases|reenvies|compartas|confirmes)\b.{{0,50}}\b({_SECRET_ES})\b",
    r"\b(envia|enviar|envie|manda|mandar|mande|facilita|facilitar|proporciona|proporcionar|comparte|compartir|"
    rf"reenvia|escribe|pega|indica)\b.{{0,50}}\b({_SECRET_ES})\b.{{0,60}}{_WHERE_ES}",
    rf"\bresponde\b.{{0,40}}\bcon\b.{{0,40}}\b({_SECRET_ES})\b",
]
_ASK = compile_any(_ASK_EN + _ASK_ES)
# A warning names the same things: "never share your PIN", "no te pediremos nunca tu contraseña".
_NEGATED = re.compile(r"\b(never|not|no|don'?t|do not|won'?t|will not|nunca|jamas|ni|nadie|sin)\b")


def asks_for_secret(sentence: str) -> list[str]:
    """The places where ``sentence`` asks the customer for a secret (none in a warning against giving one)."""
    text = fold(sentence)
    found = []
    for match in _ASK.finditer(text):
        before = text[max(0, match.start() - 30) : match.start()]
        if _NEGATED.search(before) or _NEGATED.search(match.group(0)):
            continue
        found.append(match.group(0)[:80])
    return found


def check_instructions(sentence: str) -> dict[str, Any]:
    """``{"flagged": bool, "kinds": [...], "matches": [...]}`` for one answer sentence: ``kinds`` among override,
    jailbreak, prompt_extraction (it speaks to the assistant) and asks_secret (it asks for a card number, a code or a
    password)."""
    injection = check_injection(sentence)
    kinds = [kind for kind in injection["kinds"] if kind in _ADDRESSED]
    matches = list(injection["matches"]) if kinds else []
    secret = asks_for_secret(sentence)
    if secret:
        kinds.append("asks_secret")
        matches += secret[:2]
    return {"flagged": bool(kinds), "kinds": kinds, "matches": matches[:3]}
