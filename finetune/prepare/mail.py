"""E-mail residue in a help desk's turns: quoted earlier messages, "Sent from my iPhone" lines and sign-offs.

A ticket exported from a help desk keeps what the mail client added: the earlier messages quoted below the reply
("On Mon, 3 Jun 2024, Ana wrote:" / "El lun, 3 jun 2024 a las 10:00, Ana escribió:" and "> " lines,
"-----Original Message-----" / "-----Mensaje original-----", an Outlook header block), the phone's "Sent from my
iPhone" / "Enviado desde mi iPhone", and the agent's sign-off ("Kind regards,\\nAna\\nAcme Support Team", "Un
saludo,\\n<PERSON_2>\\nEquipo de Atención al Cliente"). A model tuned on them learns to quote and to sign with
placeholders.

Quoted and forwarded text is found by quotequail (its reply and forward patterns cover English and Spanish, and
Outlook's From/De, Sent/Enviado, To/Para, Subject/Asunto headers); the device lines, the ``--`` signature delimiter
and the sign-offs, which no maintained library finds in Spanish without cutting real text ("Thanks, and can I pay
by PayPal?"), are recognised here. This is the one place the project trims mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.text import PLACEHOLDER

# Closings that end a mail whether or not a name follows ("Kind regards", "Un saludo").
_REGARDS = (
    r"(?:(?:kind|best|warm|warmest|many|with (?:kind|best)) )?regards|best wishes|all the best|"
    r"(?:yours )?sincerely(?: yours)?|yours (?:truly|faithfully)|"
    r"(?:un |muchos |cordiales |afectuosos )?saludos(?: cordiales)?|"
    r"(?:reciba |recibe |le envío |te envío )?un (?:cordial |afectuoso |fuerte )?saludo|"
    r"atentamente|cordialmente|un abrazo"
)
# Closings that are a mail's sign-off only when a signature follows ("Thanks,\nAna"); alone they are conversation.
_THANKS = (
    r"(?:many )?thanks(?: again| so much| a lot| in advance)?|thank you(?: again| so much| very much| in advance)?|"
    r"best|cheers|(?:muchas |mil )?gracias(?: de antemano| por adelantado| de nuevo)?"
)
_REGARDS_LINE = re.compile(
    rf"^(?:(?:{_THANKS})(?: (?:and|y) )?)?(?:{_REGARDS})(?: (?:and|y) (?:{_THANKS}))?\s*[,.!]*$", re.IGNORECASE
)
_THANKS_LINE = re.compile(rf"^(?:{_THANKS})\s*[,.!]*$", re.IGNORECASE)
# "Regards, Ana", "Un saludo, el equipo de Nimbus": a closing and a short name on one line.
_REGARDS_AND_NAME = re.compile(rf"^(?:{_REGARDS})\s*,\s*[^?¿.!:,]{{1,40}}$", re.IGNORECASE)
_SENT_FROM = re.compile(
    r"^(?:sent from (?:my )?\S+(?: \S+){0,3}|enviado desde (?:mi )?\S+(?: \S+){0,3}|"
    r"get outlook for \S+(?: \S+)?|obtener outlook para \S+(?: \S+)?)\s*\.?$",
    re.IGNORECASE,
)
_DELIMITER = re.compile(r"^(?:--|—|__)\s*$")  # "-- " (RFC 3676) once the line is stripped
# lower-case words a name or team line may hold: "Equipo de Atención al Cliente", "Nimbus Market | Customer Care"
_PARTICLES = frozenset(("de", "del", "la", "las", "los", "el", "y", "e", "da", "do", "van", "von", "der", "al", "the",
                        "of", "and", "&", "-", "|"))  # fmt: skip
_MAX_SIGNATURE_LINES = 5
_MAX_SIGNATURE_CHARS = 60


@dataclass(frozen=True)
class Trimmed:
    """A turn's text without mail residue, and what was taken out."""

    text: str
    quote: bool = False  # quoted or forwarded earlier messages
    signature: bool = False  # a sign-off, a signature block or a "Sent from my ..." line


def trim_mail(text: str) -> Trimmed:
    """``text`` (one turn, whitespace already normalised) without quoted replies, device lines and sign-offs.

    A turn that is nothing but a forwarded message keeps the forwarded text; a closing with nothing before it
    ("Thanks,\\nAna" as the whole turn) is left alone.
    """
    unquoted = _without_quote(text)
    lines = unquoted.split("\n")
    signed = False
    while True:
        cut = _signature_start(lines)
        if cut is None:
            break
        lines, signed = lines[:cut], True
    kept = "\n".join(lines).strip() if signed else unquoted
    return Trimmed(kept, quote=unquoted != text, signature=signed)


def _without_quote(text: str) -> str:
    if ":" not in text and ">" not in text and "___" not in text:  # no header, quote mark or separator: no quote
        return text
    import quotequail

    found = quotequail.unwrap(text)
    if found is None:
        return text
    # Two header-like lines ("From: Madrid" / "To: Barcelona") are no forwarded message; a marker line is.
    headers_only = found["type"] == "forward" and not ({"subject", "date"} & found.keys())
    if headers_only and len(quotequail.quote(text, limit=text.count("\n") + 2)) == 1:
        return text
    kept = "\n\n".join(part for part in (found.get("text_top", ""), found.get("text_bottom", "")) if part.strip())
    if not kept and found["type"] == "forward":  # the turn is the forwarded message: that is what was sent
        return str(found.get("text", "")).strip() or text
    return kept.strip()


def _is_signature_line(line: str) -> bool:
    return len(line) <= _MAX_SIGNATURE_CHARS and len(line.split()) <= 8 and not re.search(r"[?¿]|:$", line)


def _is_name_line(line: str) -> bool:
    """A name, a team or a placeholder: "Ana López", "The Nimbus Team", "Equipo de Atención al Cliente",
    "<PERSON_2>"."""
    words = line.rstrip(".,").split()
    return (
        0 < len(words) <= 6
        and all(PLACEHOLDER.fullmatch(w) or w[:1].isupper() or w.lower() in _PARTICLES for w in words)
        and not all(w.lower() in _PARTICLES for w in words)
    )


def _signature_start(lines: list[str]) -> int | None:
    """Where the trailing sign-off, signature block or device line starts in ``lines``; None when there is none."""
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if len(lines) < 2:
        return None
    if _SENT_FROM.match(lines[-1].strip()):
        return len(lines) - 1
    start = max(1, len(lines) - 1 - _MAX_SIGNATURE_LINES)
    for i in range(len(lines) - 1, start - 1, -1):
        line = lines[i].strip()
        after = [rest.strip() for rest in lines[i + 1 :] if rest.strip()]
        if not all(_is_signature_line(rest) for rest in after):
            return None  # a sentence after it: the closing is inside the text
        if not any(before.strip() for before in lines[:i]):
            return None  # nothing before the closing: the turn is the closing itself
        closing = _REGARDS_LINE.match(line) or _REGARDS_AND_NAME.match(line)
        if closing or (after and _is_name_line(after[0]) and (_THANKS_LINE.match(line) or _DELIMITER.match(line))):
            while i > 1 and (_REGARDS_LINE.match(lines[i - 1].strip()) or _THANKS_LINE.match(lines[i - 1].strip())):
                i -= 1  # "Many thanks,\nKind regards,": both are the sign-off
            return i
    return None
