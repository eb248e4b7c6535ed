"""Presidio recognizers for the personal data customers type into a Spanish/English support chat.

Every recognizer is a regular expression plus, where the format has one, a checksum: python-stdnum's (DNI/NIE letter,
CIF control, IBAN mod-97 and layout, card Luhn, CURP, RFC, US SSN) and the UPU S10 tracking digit, which it lacks.
Context-introduced values ("me llamo X", "pedido 12345678", "tracking 1Z...") capture only the value in a named group
``v``. Patterns of both languages run for either language: customers mix them and language detection errs on short
turns. The spaCy pipelines are blank (tokenizer only, nothing to download); the analyzer uses them only to tokenize.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any

import regex
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from stdnum import iban as stdnum_iban
from stdnum import luhn, numdb
from stdnum.es import ccc as es_ccc
from stdnum.es import cif as es_cif
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.mx import curp as mx_curp
from stdnum.mx import rfc as mx_rfc
from stdnum.us import ssn as us_ssn

from retrieval.language import strip_accents

# (start, end) of the value inside a candidate, or None to reject the candidate.
Refiner = Callable[[str], tuple[int, int] | None]


@cache
def iban_length(country: str) -> int | None:
    """The length of ``country``'s IBANs in python-stdnum's copy of the IBAN registry (None: not in it)."""
    found = numdb.get("iban").info(country.upper())
    bban = found[0][1].get("bban") if found else None
    return None if bban is None else 4 + sum(int(n) for n in regex.findall(r"(\d+)!", bban))


# Capitalised words that follow "I'm", "soy", "Hola", a closing line... without being a name.
_COMMON = """
i me my you your we our he she it they the a an and or but not no yes so very really just still also only here there
this that these those what who how when where why which sorry glad happy afraid sure fine good great ok okay well back
new old interested looking trying writing calling having going unable able done ready waiting customer client member
premium user buyer seller team support agent assistant bot admin manager staff service nimbus market retail points gift
card visa mastercard paypal bizum amazon google apple samsung iphone android spanish english british american mexican
french german italian portuguese venezuelan colombian argentinian canadian irish dutch chinese european from in at on
for to with of by about after before as is am are was monday tuesday wednesday thursday friday saturday sunday january
february march april may june july august september october november december today tomorrow yesterday morning
afternoon evening night everyone all hi hello hey dear thanks thank regards best cheers sincerely sent please mr mrs ms
miss dr sir madam sr sra srta dña dra guys folks yo mi mis tu tus su sus el la los las lo le les un una unos unas de
del al que y o pero si sí muy bien mal aquí allí ya todavía también solo sólo hola buenas buenos buen buena días dias
tardes noches gracias saludos saludo cordial atentamente abrazo besos enviado desde cliente clienta socio socia usuario
usuaria nuevo nueva comprador compradora vendedor autónomo autonomo autónoma autonoma empresa particular estudiante
español española mexicano mexicana venezolano venezolana colombiano colombiana argentino argentina francés francesa
alemán alemana inglés inglesa italiano italiana portugués portuguesa europeo europea lunes martes miércoles jueves
viernes sábado domingo enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre hoy
mañana ayer equipo soporte atención agente asistente señor señora señorita don doña estimado estimada querido querida
perdón disculpa disculpe vale claro incorrecto incorrecta wrong incorrect misspelled spelled missing shown showing
written escrito diferente different correcto correct tienda pedido order envío factura invoice cuenta account en con
por para sin sobre entre hasta es son está están estoy soy ha han tengo tiene quiero quería necesito puedo podéis puede
hice hizo compré pedí llegó sale pone aparece como cuando donde porque pues nada algo todo toda otro otra este esta ese
esa mismo misma have has had do does did can could will would should need want got get bought ordered received paid
placed wanted tried called changed it's that's thats there's and/or etc via per bye goodbye adiós adios chao ciao luego
correos seur mrw gls dhl ups fedex dpd nacex usps evri hermes tnt ctt zeleris royal parcelforce estafeta
"""


def fold(word: str) -> str:
    """Case- and accent-insensitive form of a word, for the common-word check."""
    return strip_accents(word).casefold()


COMMON_WORDS = frozenset(fold(word) for word in _COMMON.split())
NAME_PARTICLES = frozenset(["de", "del", "la", "las", "los", "van", "von", "der", "den", "da", "di", "du", "dos", "y"])


def _alnum(value: str) -> str:
    """The letters and digits of ``value``, upper case, any decimal digit as its ASCII one: the patterns' ``\\d``
    matches any script's digits (full-width, Arabic-Indic), python-stdnum's checks want ASCII ones."""
    return "".join(str(int(c)) if c.isdecimal() else c for c in value if c.isalnum()).upper()


def dni_valid(value: str) -> bool:
    """Spanish DNI: 8 digits and their control letter (python-stdnum)."""
    return es_dni.is_valid(_alnum(value))


def nie_valid(value: str) -> bool:
    """Spanish NIE: X/Y/Z, 7 digits and the DNI control letter (python-stdnum)."""
    return es_nie.is_valid(_alnum(value))


def cif_valid(value: str) -> bool:
    """Spanish company NIF (CIF): entity letter, 7 digits and a control digit or letter (python-stdnum)."""
    return es_cif.is_valid(_alnum(value))


def iban_valid(value: str) -> bool:
    """An IBAN whose country, length, layout and mod-97 check digits python-stdnum accepts. A country's own check of
    the bank and account number is not required (a mistyped account with the right IBAN check digits is still an
    account number)."""
    return stdnum_iban.is_valid(_alnum(value), check_country=False)


def ssn_valid(value: str) -> bool:
    """US social security number: area, group and serial python-stdnum accepts (not 000, 666 or 9xx, ...)."""
    return us_ssn.is_valid(_alnum(value))


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial (python-stdnum has no S10 module)."""
    check = 11 - sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check)


def s10_valid(value: str) -> bool:
    """UPU S10 postal tracking id (2 letters, 8 digits + check digit, country code)."""
    v = _alnum(value)
    return len(v) == 13 and v[2:11].isdigit() and int(v[10]) == s10_check_digit(v[2:10])


def checked(valid: Callable[[str], bool]) -> Refiner:
    """A refiner that keeps the whole candidate when ``valid`` accepts it."""
    return lambda candidate: (0, len(candidate)) if valid(candidate) else None


def refine_card(candidate: str) -> tuple[int, int] | None:
    """The longest run of digit groups with 13-19 digits that passes Luhn (a trailing "12/27" is not the card)."""
    groups = list(regex.finditer(r"\d+", candidate))
    for last in range(len(groups), 0, -1):
        digits = _alnum("".join(g.group() for g in groups[:last]))
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn.is_valid(digits):
            return 0, groups[last - 1].end()
    return None


def refine_iban(candidate: str, check: bool = True) -> tuple[int, int] | None:
    """The IBAN's expected number of characters from the candidate's start, if valid (or ``check`` is off) and
    ending at a boundary."""
    length = iban_length(candidate[:2])
    if length is None:
        return None
    count = 0
    for end, char in enumerate(candidate, start=1):
        count += char.isalnum()
        if count == length:
            boundary = end == len(candidate) or not candidate[end].isalnum()
            return (0, end) if boundary and (not check or iban_valid(candidate[:end])) else None
    return None


def refine_name(candidate: str) -> tuple[int, int] | None:
    """Cut a name at its first common word (a capitalised name also at its first lower-case word); reject it when
    nothing is left."""
    words = list(regex.finditer(r"[\p{L}][\p{L}'’-]*", candidate))
    capitalised = bool(words) and words[0].group()[0].isupper()
    kept = []
    for word in words:
        text, folded = word.group(), fold(word.group())
        if folded in NAME_PARTICLES:
            if text[0].isupper():
                break  # "Y", "De" capitalised after a name start something else
        elif folded in COMMON_WORDS or (capitalised and not text[0].isupper()):
            break
        kept.append(word)
    while kept and fold(kept[-1].group()) in NAME_PARTICLES:
        kept.pop()
    if not kept or fold(kept[0].group()) in NAME_PARTICLES:
        return None
    return kept[0].start(), kept[-1].end()


def digit_count(low: int, high: int) -> Refiner:
    """A refiner for phone numbers: ``low``..``high`` digits, not counting an international ``00`` prefix."""
    return checked(lambda c: low <= len(regex.sub(r"\D", "", c).removeprefix("00")) <= high)


def ipv6_valid(candidate: str) -> bool:
    """Only real IPv6 addresses (times like 10:00:00 are not)."""
    import ipaddress

    try:
        return bool(ipaddress.IPv6Address(candidate))
    except ValueError:
        return False


def refine_url(candidate: str) -> tuple[int, int] | None:
    """Drop trailing sentence punctuation from a URL."""
    end = len(candidate.rstrip(".,;:!?)]}»\"'"))
    return (0, end) if end > 4 else None


NB = r"(?<![\p{L}\d_])"  # no letter or digit before
NA = r"(?![\p{L}\d_])"  # no letter or digit after
CAP = r"\p{Lu}(?:['’]\p{Lu})?\p{Ll}+(?:\p{Lu}\p{Ll}+)?(?:-\p{Lu}\p{Ll}+)?"  # Ana, O'Brien, McDonald, García-López
PARTICLE = r"(?:de|del|van|von|da|di|du|dos|y)(?:[ \t]+(?:la|las|los|der|den))?"
CAP_NAME = rf"(?:\p{{Lu}}\.[ \t]+)?{CAP}(?:[ \t]+(?:{PARTICLE}[ \t]+)?{CAP}){{0,3}}"
ANY_NAME = r"[\p{L}][\p{L}'’-]*(?:[ \t]+[\p{L}][\p{L}'’-]*){0,3}"

NAME_STRONG_ANY_CASE = (
    r"(?i:\bmy[ \t]+(?:full[ \t]+)?name[ \t]+is|\bme[ \t]+llamo|\bmi[ \t]+nombre[ \t]+(?:completo[ \t]+)?es"
    r"|\b(?:full[ \t]+)?name[ \t]*:|\bnombre(?:[ \t]+completo)?[ \t]*:)[ \t]*:?[ \t]*" + rf"(?P<v>{ANY_NAME})"
)
NAME_STRONG = (
    r"(?:(?i:\ba[ \t]+nombre[ \t]+de|\bunder[ \t]+the[ \t]+name(?:[ \t]+of)?|\bin[ \t]+the[ \t]+name[ \t]+of"
    r"|\btitular(?:[ \t]+de[ \t]+la[ \t]+(?:tarjeta|cuenta))?[ \t]*:?|\bcard[ \t]?holder(?:'s[ \t]+name)?[ \t]*:?"
    r"|\baddressed[ \t]+to|\bdestinatari[oa][ \t]*:?|\brecipient[ \t]*:?"
    r"|\bmis[ \t]+datos(?:[ \t]+(?:de[ \t]+(?:contacto|env[ií]o)|personales))?(?:[ \t]+son)?[ \t]*:"
    r"|\bmy[ \t]+(?:contact[ \t]+|shipping[ \t]+|personal[ \t]+)?details(?:[ \t]+are)?[ \t]*:)[ \t]+"
    r"|\b(?:Sr|Sra|Srta|Dña|Mr|Mrs|Ms|Dr|Dra)\.?[ \t]+|\b(?:Don|Doña|Miss)[ \t]+)" + rf"(?P<v>{CAP_NAME})"
)
NAME_WEAK = (
    r"\b(?:I'm|I’m|I[ \t]+am|[Ss]oy|[Tt]his[ \t]+is|[Hh]ola|[Hh]i|[Hh]ello|[Hh]ey|[Dd]ear|[Ee]stimad[oa]"
    r"|[Qq]uerid[oa]|[Bb]uen[oa]s(?:[ \t]+(?:días|tardes|noches))?|(?:[Ll]es?|[Tt]e|[Oo]s)[ \t]+escribe"
    r"|(?:[Ss]poke|[Tt]alked|[Cc]hatted)[ \t]+(?:to|with)|[Hh]abl[ée][ \t]+con|(?:[Hh]e[ \t]+)?[Hh]ablado[ \t]+con"
    r"|(?:[Ss]omeone|[Ss]omebody|[Aa][ \t]+(?:man|woman|guy|lady|person|courier|driver)|[Aa]n[ \t]+agent)[ \t]+"
    r"(?:called|named)|(?:[Uu]n|[Uu]na)[ \t]+(?:señor|señora|chic[oa]|repartidor|repartidora|mensajer[oa]|agente)[ \t]+"
    r"(?:llamad[oa]|que[ \t]+se[ \t]+llama))[ \t]*,?[ \t]+" + rf"(?P<v>{CAP_NAME})"
)
RELATIONS = (
    "marido|mujer|esposa|esposo|madre|padre|mamá|mama|papá|papa|hij[oa]|herman[oa]|abuel[oa]|ti[oa]|prim[oa]|vecin[oa]"
    "|pareja|novi[oa]|amig[oa]|compañer[oa]|jef[ea]|asistente|secretari[oa]|suegr[oa]|cuñad[oa]|sobrin[oa]|niet[oa]"
    "|wife|husband|mother|father|mom|mum|dad|son|daughter|brother|sister|grandmother|grandfather|grandma|grandpa|aunt"
    "|uncle|cousin|neighbou?r|partner|fianc[ée]e?|boyfriend|girlfriend|friend|colleague|boss|assistant|secretary"
)
NAME_RELATION = (
    rf"(?i:\b(?:mi|my|our|nuestr[oa]|su|his|her)[ \t]+(?:{RELATIONS})(?:'s[ \t]+name)?)[ \t]*,?[ \t]+"
    + rf"(?P<v>{CAP_NAME})"
)
# An agent's reply addressing the customer: "Sure John, ...", "Claro Juan, ...", "Of course Sarah!". The name must be
# followed by a comma or "!" (a vocative), so "Sure thing" or "Vale la pena" never match.
NAME_VOCATIVE = (
    r"\b(?:[Ss]ure|[Cc]ertainly|[Oo]f[ \t]+course|[Oo]kay|OK|[Pp]erfect|[Cc]laro|[Vv]ale|[Pp]erfecto|[Gg]enial"
    r"|[Dd]e[ \t]+acuerdo|[Ee]ntendido|[Pp]or[ \t]+supuesto|[Tt]hanks|[Tt]hank[ \t]+you"
    r"|(?:[Mm]uchas|[Mm]il)[ \t]+gracias|[Gg]racias)[ \t]*,?[ \t]+" + rf"(?P<v>{CAP_NAME})(?=[ \t]*[,!])"
)
CLOSINGS = (
    "thanks|thank you|thanks again|many thanks|thanks in advance|regards|best regards|kind regards|warm regards|"
    "best|best wishes|cheers|sincerely|yours sincerely|yours truly|saludos|un saludo|saludos cordiales|"
    "un cordial saludo|muchas gracias|mil gracias|gracias|gracias de antemano|atentamente|un abrazo|cordialmente"
)
NAME_SIGNATURE = (
    rf"(?m)(?:^|(?<=[.!?,;:][ \t]{{0,3}}))[ \t]*(?i:{CLOSINGS})[ \t]*[,.!]?[ \t]*(?:\r?\n[ \t]*)*"
    rf"(?P<v>{CAP_NAME})[ \t]*[.!]?[ \t]*(?=\r?\n|\Z)"
)

SPANISH_PHONE = (
    r"(?<![\p{L}\d_+-])(?<!\d[ .])(?:\(?(?:\+|00)34\)?[ .-]?)?[6789](?:[ .-]?\d){8}"
    r"(?![ .-]?\d)(?![ \t]?(?:€|EUR|euros?|\$|%))"
)
INTERNATIONAL_PHONE = r"(?<![\p{L}\d_+])(?:\+|00)(?!34)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?![ .-]?\d)"
US_UK_PHONE = rf"{NB}(?:\(\d{{3}}\)[ ]?\d{{3}}[-. ]\d{{4}}|\d{{3}}[-.]\d{{3}}[-.]\d{{4}}|07\d{{3}}[ ]?\d{{6}}){NA}"
CONTEXT_PHONE = (
    r"(?i:tel[eé]fono|m[oó]vil|celular|\bcel\b\.?|phone|mobile|cell|landline|\bfijo|tel\.|tlf\.?|whatsapp"
    r"|ll[aá]m\w*[ \t]+al|call[ \t]+me[ \t]+(?:on|at)|text[ \t]+me[ \t]+(?:on|at))"
    r"[^\d\n+]{0,20}(?P<v>\+?\(?\d[\d \t().-]{7,18}\d)(?![ .-]?\d)"
)
EMAIL = r"(?<![\w.+-])[\w+-](?:[\w.+-]*[\w+-])?@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,24}(?![\w-])"
# A bare host with a path ("instagram.com/ana"): it starts where no letter, digit, "-", "." or "@" precedes (a start
# inside "1-1-1-..." would scan to the end for a dot at every hyphen: quadratic on long messages).
URL = (
    r"(?i)(?<![\w@.])(?:https?://|www\.)[^\s<>\"'()]+"
    r"|(?<![\w@./-])(?:[a-z0-9-]++\.)+[a-z]{2,10}/[^\s<>\"'()]*"
)
OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
IPV4 = rf"(?<![\d.])(?<!(?i:version|versión|v)[ \t]?){OCTET}(?:\.{OCTET}){{3}}(?!\d|\.\d)"
IPV6 = r"(?<![\w:])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{6,39}(?![\w:])"
DNI = rf"{NB}(?:\d{{8}}|\d{{2}}\.\d{{3}}\.\d{{3}})[ -]?[A-Za-z]{NA}"
NIE = rf"{NB}[XYZxyz][ -]?\d{{7}}[ -]?[A-Za-z]{NA}"
CIF = rf"{NB}[ABCDEFGHJNPQRSUVW][ -]?\d{{7}}[0-9A-J]{NA}"
# A DNI or NIE the customer introduces ("mi DNI es ...", "NIE: ...") with its letter mistyped or left out: still a
# person's identity number. The checksum guards only the bare look-alikes above.
ID_CONTEXT = r"(?i:\b(?:dni|nif|nie|d\.n\.i\.|documento[ \t]+(?:nacional[ \t]+)?de[ \t]+identidad))[^\d\n]{0,20}?"
ID_LETTER = r"(?:[ -]?[A-Z]|-?[a-z])?"  # "12345678 Z", not "12345678 a nombre de..."
DNI_CONTEXT = rf"{ID_CONTEXT}{NB}(?P<v>(?:\d{{8}}|\d{{2}}\.\d{{3}}\.\d{{3}}){ID_LETTER}){NA}"
NIE_CONTEXT = rf"{ID_CONTEXT}{NB}(?P<v>[XYZxyz][ -]?\d{{7}}{ID_LETTER}){NA}"
# Mexican CURP (identity) and RFC (tax id; a person's embeds their initials and birth date): python-stdnum checks a
# bare one (CURP check digit; RFC date and check digit), one the customer introduces needs only the shape.
CURP_SHAPE = r"(?i:[A-Z][AEIOUX][A-Z]{2}\d{6}[HMX][A-Z]{5}[A-Z\d]\d)"
RFC_SHAPE = r"(?i:[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3})"
CURP = rf"{NB}{CURP_SHAPE}{NA}"
RFC = rf"{NB}{RFC_SHAPE}{NA}"
CURP_CONTEXT = rf"(?i:\bcurp){NA}[^\d\n]{{0,20}}?{NB}(?P<v>{CURP_SHAPE}){NA}"
RFC_CONTEXT = rf"(?i:\br\.?f\.?c\b\.?)[^\d\n]{{0,20}}?{NB}(?P<v>{RFC_SHAPE}){NA}"
# Social security numbers: a US one written bare (3-2-4 digits with dashes, checked by python-stdnum) or introduced as
# one ("SSN", "social security", Spanish "seguro social"), and a Spanish (12 digits: province, number, control) or
# Mexican IMSS one (11) introduced as such ("NSS", "NUSS", "número de la Seguridad Social", "afiliación").
SSN = rf"{NB}\d{{3}}-\d{{2}}-\d{{4}}{NA}"
SSN_CONTEXT = (
    r"(?i:\bssn|\bsocial[ \t]+security|\bseguro[ \t]+social)(?![\p{L}])[^\d\n]{0,20}?"
    rf"{NB}(?P<v>\d{{3}}[ -]?\d{{2}}[ -]?\d{{4}})(?![ /.-]?\d)"
)
NSS_CONTEXT = (
    r"(?i:\b(?:nuss|nss|imss)|\bseguridad[ \t]+social|\bseguro[ \t]+social|\bafiliaci[oó]n)(?![\p{L}])[^\d\n]{0,25}?"
    rf"{NB}(?P<v>\d{{2}}(?:[ /.-]?\d){{9,10}})(?![ /.-]?\d)"
)
# A passport number introduced as such ("pasaporte", "passport", "passeport", "Reisepass"): letters and digits in the
# forms EU, US and UK passports take (Spain "PAA123456", Italy "YA1234567", France "12AB34567", Germany "C01X00T47",
# the US and UK nine digits), at least four digits; a few words at most between, never an order's or a booking's.
PASSPORT_CONTEXT = (
    r"(?i:\bpasaporte|\bpassport|\bpasseport|\breisepass)(?![\p{L}])"
    r"(?:(?!(?i:pedido|order|compra|reserva|booking|factura|invoice))[^\d\n?!]){0,15}?"
    r"(?<![\p{L}\d_])(?P<v>(?i:[A-Z]{1,3}[ -]\d{6,9}|(?=(?:[A-Z]*\d){4})[A-Z\d]{6,10}))(?![\p{L}\d_])"
)
# A vehicle's registration introduced as such ("matrícula", "placa", "licence plate", "registration"): the Spanish
# forms ("1234 BCD", its consonants only; the provincial "M-1234-AB") and the British one ("AB12 CDE").
PLATE_SHAPE = r"(?i:\d{4}[ -]?[BCDFGHJKLMNPRSTVWXYZ]{3}|[A-Z]{1,2}[ -]?\d{4}[ -]?[A-Z]{1,2})|[A-Z]{2}\d{2}[ ]?[A-Z]{3}"
PLATE_CONTEXT = (
    r"(?i:\bmatr[ií]cula|\bplaca|\blicen[cs]e[ \t]+plate|\bnumber[ \t]+plate|\bregistration|\breg\.|\bkennzeichen)"
    r"(?![\p{L}])(?:(?!(?i:pedido|order|compra|reserva|booking|factura|invoice))[^\d\n?!]){0,15}?"
    rf"(?<![\p{{L}}\d_])(?P<v>{PLATE_SHAPE})(?![\p{{L}}\d_])"
)
# The same for an account or card number introduced as such, its check digits mistyped.
IBAN_SEP = r"(?:[ \t]{1,3}|-)?"  # between an IBAN's groups: up to three spaces or tabs, or a dash
IBAN_CONTEXT = rf"(?i:\biban)[^\d\n]{{0,30}}?{NB}(?P<v>(?i:[A-Z]{{2}}\d{{2}}(?:{IBAN_SEP}[A-Z0-9]){{11,30}}))"
# What may stand between a card number's digit groups: up to three spaces or tabs, or a dash, dot, slash or underscore
# with as many on either side or none ("4111 1111", "4111-1111", "4111.1111", "4111 / 1111", "4111_1111", "4111  1111"
# as a PDF statement is copied); until 2026-12-07 only one space or a dash, and a full number typed with dots, slashes
# or two spaces was stored in clear (the chat folds whitespace first; `data redact` does not).
GAP = r"[ \t]{0,3}"
CARD_SEP = rf"(?:{GAP}[-./_]{GAP}|[ \t]{{1,3}})?"
CARD_CONTEXT = (
    r"(?i:\b(?:tarjeta|card)(?:[ \t]+(?:number|n[úu]mero|n[º°]|no\.?))?)[^\d\n]{0,20}?"
    rf"(?<![\d./_-])(?P<v>\d{{4}}(?:{CARD_SEP}\d){{9,15}})(?!\d)"
)
# Secrets the customer should never have typed, kept nowhere (a card's security code may not be stored at all, PCI
# DSS 3.2): "cvv 123", "código de seguridad: 1234", "password: Hunter2!", "mi contraseña es perro2020".
CARD_CODE = (
    r"(?i:\b(?:cvv2?|cvc2?|cid|c[óo]digo[ \t]+(?:de[ \t]+seguridad|cvv|cvc)|security[ \t]+code|card[ \t]+verification"
    r"(?:[ \t]+(?:code|value|number))?))[^\d\n]{0,25}?(?<!\d)(?P<v>\d{3,4})(?!\d)"
)
# Only a value with a digit: "my password is wrong" is a complaint, "recover the password: choose..." an instruction.
PASSWORD_COLON = r"(?i:\b(?:password|passwd|pwd|contrase[ñn]a|clave))[ \t]*[:=][ \t]*(?P<v>(?=\S*\d)\S{3,64})"
PASSWORD_IS = (
    r"(?i:\b(?:password|passwd|contrase[ñn]a|clave)(?:[ \t,][^\n.!?:=]{0,25}?)?[ \t]+(?:is|es|era|was)[ \t]+)"
    r"(?P<v>(?=[^\s.,;!?]*\d)[^\s.,;!?]{4,64})"
)
IBAN = rf"(?<![\p{{L}}\d])(?i:[A-Z]{{2}}\d{{2}}(?:{IBAN_SEP}[A-Z0-9]){{11,30}})"
# A Spanish bank account in its old 20-digit form (código cuenta cliente: bank, branch, two check digits, account),
# as customers still copy it from a cheque book or a bank letter: "2100 0418 45 0200051332"; its check digits are
# verified, so a 20-digit reference is not one. Stored as an IBAN (the same account).
CCC = r"(?<![\d./_-])\d{4}[ -]?\d{4}[ -]?\d{2}[ -]?\d{10}(?![\d/_-])"
CARD = rf"(?<![\d./_-])[2-6]\d{{3}}(?:{CARD_SEP}\d){{9,17}}(?!\d)"
ORDER_NB = rf"{NB}(?i:NB)[ -]?\d{{7}}{NA}"
ORDER_CONTEXT = (
    r"(?i:\b(?:order|pedido|orden|purchase|compra|referencia|reference)"
    r"(?:[ \t]+(?:number|no\.?|num\.?|n[º°]|número|nro\.?|id|ref\.?|is|es|el|de[ \t]+pedido))*)"
    rf"[ \t]*[#:nº°.]*[ \t]*(?P<v>(?:[A-Z]{{1,3}}-?)?\d{{6,12}}){NA}"
)
TRACKING_UPS = rf"{NB}1Z[0-9A-Z]{{16}}{NA}"
TRACKING_S10 = rf"{NB}[A-Z]{{2}}\d{{9}}[A-Z]{{2}}{NA}"
TRACKING_CONTEXT = (
    r"(?i:tracking|seguimiento|localizador|rastreo|n[úu]mero[ \t]+de[ \t]+env[ií]o|waybill|guía)"
    rf"[^\n\d]{{0,30}}?{NB}(?P<v>(?=[A-Z]*\d)[A-Z0-9]{{10,22}}){NA}"
)

STREET_ES = (
    r"(?:(?i:calle|avenida|avda|plaza|paseo|ronda|camino|carretera|travesía|travesia|glorieta|pasaje|rambla|vía"
    r"|urbanización|urbanizacion|carrer|avinguda|plaça|passeig|rúa)(?![\p{L}])"
    r"|(?i:c/|c\.|cl\.|avda\.|av\.|avd\.|pza\.|plz\.|pº|p\.º|ctra\.|trav\.|urb\.))"
)
CONNECT = r"(?i:de|del|la|las|los|el|y|i|de[ \t]+la|de[ \t]+las|de[ \t]+los)"
STREET_WORD, CITY_WORD = r"\p{Lu}[\p{L}'’-]*\.?", r"\p{Lu}\p{Ll}[\p{L}'’-]*"
NUMBER_ES = (
    r",?[ \t]*(?:(?i:n[º°o]\.?|núm\.?|num\.?|número|nro\.?)[ \t]*)?(?:\d{1,4}(?:[ \t]?[A-Za-z](?![\p{L}]))?|s/n)"
)
FLOOR_ES = (
    r"(?:(?:,?[ \t]*|[ \t]*[-–][ \t]*)(?:\d{1,2}[ \t]?[º°ª][ \t]?"
    r"(?:[A-Za-z](?![\p{L}])|(?i:izq(?:uierda|da)?|dcha|der(?:echa)?|centro)\.?)?"
    r"|\d{1,2}[ \t]?-[ \t]?[A-Za-z](?![\p{L}])|(?i:bajo|ático|atico|entresuelo)(?:[ \t]?[A-Za-z](?![\p{L}]))?"
    r"|(?i:piso|planta|puerta|pta\.|portal|esc\.|escalera|bloque|letra|local|oficina|of\.|interior|int\."
    r"|departamento|depto\.?|dpto\.?|apartamento|apto\.?)[ \t]*\w{1,4}))"
)
POSTCODE_ES = r",?[ \t]*(?i:CP|C\.P\.)?[ \t]*(?<!\d)(?:0[1-9]|[1-4]\d|5[0-2])\d{3}(?!\d)"
CITY = rf"{CITY_WORD}(?:[ \t]+(?:{CONNECT}[ \t]+)?{CITY_WORD}){{0,3}}"
COLONIA = rf"(?:,?[ \t]*(?i:col\.|colonia|fracc\.|fraccionamiento|barrio)[ \t]*{CITY})"
ADDRESS_ES = (
    rf"(?<![\p{{L}}]){STREET_ES}[ \t]*(?:{CONNECT}[ \t]+)?{STREET_WORD}"
    rf"(?:[ \t]+(?:{CONNECT}[ \t]+)*{STREET_WORD}){{0,5}}{NUMBER_ES}{FLOOR_ES}{{0,4}}{COLONIA}?"
    rf"(?:{POSTCODE_ES}(?:,?[ \t]+{CITY}(?:[ \t]*\({CITY}\))?)?|,[ \t]*{CITY})?"
)
# Customers type "calle mayor 5, 28013 madrid" in lower case: accepted when a postal code settles it.
ADDRESS_ES_LOWER = (
    rf"(?<![\p{{L}}]){STREET_ES}[ \t]*(?:[\p{{L}}'’.]+[ \t]+){{0,5}}?[\p{{L}}'’.]+{NUMBER_ES}{FLOOR_ES}{{0,4}}"
    rf"{POSTCODE_ES}(?:[ \t]+[\p{{L}}]+)?"
)
ADDRESS_GRID = (
    r"(?<![\p{L}])(?i:calle|cl\.?|carrera|cra\.?|kra\.?|kr\.?|cr\.?|avenida|av\.?|avda\.?|diagonal|dg\.?|transversal"
    r"|tv\.?|circular|circunvalar)[ \t]*\d{1,3}[ \t]?[A-Za-z]?(?:[ \t]+(?i:bis))?(?:[ \t]+(?i:sur|norte|este|oeste))?"
    r"[ \t]*(?:#|(?i:n[º°o]\.?|núm\.?|número))[ \t]*\d{1,3}[ \t]?[A-Za-z]?[ \t]*-[ \t]*\d{1,3}(?!\d)"
    rf"{FLOOR_ES}{{0,4}}"
)
STREET_EN = (
    r"(?i:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|way|place|pl|terrace|close"
    r"|crescent|square|sq|gardens|row|parkway|pkwy|highway|hwy|circle|cir|trail|mews|grove|walk)\.?(?![\p{L}])"
)
UNIT_EN = r"(?:(?i:apt|apartment|suite|ste|unit|flat|floor|fl|room)\.?[ \t]*#?[ \t]*|#[ \t]*)[A-Za-z0-9-]{1,6}"
UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}(?![\p{L}\d])"
ADDRESS_EN = (
    r"(?<![\p{L}\d.,-])\d{1,5}[A-Za-z]?[ \t]+(?:(?:N|S|E|W|North|South|East|West)\.?[ \t]+)?"
    rf"(?:(?:\p{{Lu}}[\p{{L}}'’-]*\.?|\d{{1,3}}(?i:st|nd|rd|th))[ \t]+){{1,4}}{STREET_EN}"
    rf"(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW)(?![\p{{L}}]))?"
    rf"(?:,?[ \t]*{UNIT_EN})?(?:,[ \t]*{CITY}(?:,?[ \t]*(?:[A-Z]{{2}}[ \t]+)?\d{{5}}(?:-\d{{4}})?)?)?"
    rf"(?:,?[ \t]*{UK_POSTCODE})?"
)
ADDRESS_UNIT = r"(?<![\p{L}])(?:(?i:apt|apartment|suite)\.?|Flat|Unit)[ \t]*#?[ \t]*\d{1,4}[A-Za-z]?(?![\p{L}\d])"
PO_BOX = r"(?<![\p{L}])(?i:p\.?[ \t]?o\.?[ \t]?box|apartado[ \t]+de[ \t]+correos|apdo\.)[ \t]*\d{1,6}(?!\d)"
MONTH = (
    r"(?i:enero|febrero|marzo|abril|mayo|junio|julio|agosto|se?ptiembre|octubre|noviembre|diciembre|january|february"
    r"|march|april|may|june|july|august|september|october|november|december|ene|feb|mar|abr|jun|jul|ago|sept?|oct"
    r"|nov|dic|jan|apr|aug|dec)\.?"
)
DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}"
    rf"|\d{{1,2}}(?i:st|nd|rd|th|º)?[ \t]+(?:(?i:de|of)[ \t]+)?{MONTH}(?:[ \t]+(?i:de|del)[ \t]+|,?[ \t]+)\d{{4}}"
    rf"|{MONTH}[ \t]+\d{{1,2}}(?i:st|nd|rd|th)?,?[ \t]+\d{{4}})(?!\d)"
)
# "Nací el 14/02/1987", "fecha de nacimiento: 3 de mayo de 1990", "DOB 07/22/1985", "born on 22 March 1979". Dates
# alone (an order's, a delivery's) are not personal data; "birthday" introduces gifts more often than a birth date.
BIRTH_DATE = (
    r"(?i:\bdate[ \t]+of[ \t]+birth|\bbirth[ \t]?date|\bd\.?o\.?b\b\.?|\bborn(?:[ \t]+on)?"
    r"|\bfecha[ \t]+de[ \t]+nacimiento|\bf\.?[ \t]?(?:de[ \t]+)?nac\."
    r"|\bnac[ií](?![\p{L}])(?:[ \t]+el)?|\bnacid[oa](?:[ \t]+el)?)"
    rf"[^\d\n]{{0,12}}?{NB}(?P<v>{DATE})"
)

# (entity, pattern name, regex, score, refiner). On overlaps the higher score wins, then the longer span.
RECOGNIZERS: list[tuple[str, str, str, float, Refiner | None]] = [
    ("DNI", "dni", DNI, 1.0, checked(dni_valid)),
    ("NIE", "nie", NIE, 1.0, checked(nie_valid)),
    ("NIF", "cif", CIF, 1.0, checked(cif_valid)),
    ("CURP", "curp", CURP, 1.0, checked(mx_curp.is_valid)),
    ("RFC", "rfc", RFC, 1.0, checked(partial(mx_rfc.is_valid, validate_check_digits=True))),
    ("DNI", "dni_context", DNI_CONTEXT, 0.85, None),
    ("CURP", "curp_context", CURP_CONTEXT, 0.85, None),
    ("RFC", "rfc_context", RFC_CONTEXT, 0.85, None),
    ("NIE", "nie_context", NIE_CONTEXT, 0.85, None),
    ("SSN", "ssn", SSN, 1.0, checked(ssn_valid)),
    ("SSN", "ssn_context", SSN_CONTEXT, 0.85, None),
    ("SSN", "nss_context", NSS_CONTEXT, 0.85, None),
    ("PASSPORT", "passport_context", PASSPORT_CONTEXT, 0.85, None),
    ("LICENSE_PLATE", "plate_context", PLATE_CONTEXT, 0.85, None),
    ("IBAN", "iban_context", IBAN_CONTEXT, 0.85, partial(refine_iban, check=False)),
    ("CARD", "card_context", CARD_CONTEXT, 0.85, None),
    ("SECRET", "card_code", CARD_CODE, 0.9, None),
    ("SECRET", "password_colon", PASSWORD_COLON, 0.9, None),
    ("SECRET", "password_is", PASSWORD_IS, 0.9, None),
    ("IBAN", "iban", IBAN, 1.0, refine_iban),
    ("IBAN", "ccc", CCC, 1.0, checked(es_ccc.is_valid)),
    ("CARD", "card", CARD, 1.0, refine_card),
    ("TRACKING", "tracking_s10", TRACKING_S10, 1.0, checked(s10_valid)),
    ("EMAIL", "email", EMAIL, 0.95, None),
    ("URL", "url", URL, 0.9, refine_url),
    ("ORDER", "order_nb", ORDER_NB, 0.95, None),
    ("ORDER", "order_context", ORDER_CONTEXT, 0.85, None),
    ("TRACKING", "tracking_ups", TRACKING_UPS, 0.95, None),
    ("TRACKING", "tracking_context", TRACKING_CONTEXT, 0.85, None),
    ("IP", "ipv4", IPV4, 0.8, None),
    ("IP", "ipv6", IPV6, 0.8, checked(ipv6_valid)),
    ("ADDRESS", "address_es", ADDRESS_ES, 0.8, None),
    ("ADDRESS", "address_es_lower", ADDRESS_ES_LOWER, 0.8, None),
    ("ADDRESS", "address_en", ADDRESS_EN, 0.8, None),
    ("ADDRESS", "address_unit", ADDRESS_UNIT, 0.6, None),
    ("ADDRESS", "po_box", PO_BOX, 0.8, None),
    ("ADDRESS", "address_grid", ADDRESS_GRID, 0.8, None),
    ("DATE_OF_BIRTH", "birth_date", BIRTH_DATE, 0.85, None),
    ("PHONE", "phone_es", SPANISH_PHONE, 0.75, None),
    ("PHONE", "phone_intl", INTERNATIONAL_PHONE, 0.75, digit_count(8, 15)),
    ("PHONE", "phone_us_uk", US_UK_PHONE, 0.7, None),
    ("PHONE", "phone_context", CONTEXT_PHONE, 0.7, digit_count(9, 15)),
    ("PERSON", "name_strong_any_case", NAME_STRONG_ANY_CASE, 0.7, refine_name),
    ("PERSON", "name_strong", NAME_STRONG, 0.7, refine_name),
    ("PERSON", "name_weak", NAME_WEAK, 0.65, refine_name),
    ("PERSON", "name_relation", NAME_RELATION, 0.65, refine_name),
    ("PERSON", "name_vocative", NAME_VOCATIVE, 0.65, refine_name),
    ("PERSON", "name_signature", NAME_SIGNATURE, 0.65, refine_name),
]


# Every pattern runs in time linear in the text (tests/finetune/test_pii.py checks messages as long as the chat takes);
# the limit stops one that does not, and the text is then refused as unchecked (finetune.pii.Redactor.find), not passed.
TIMEOUT_S = 1.0


class RegexRecognizer(EntityRecognizer):
    """A Presidio recognizer for one regex: the value is group ``v`` (or the match), narrowed by a refiner."""

    def __init__(self, entity: str, name: str, pattern: str, score: float, refine: Refiner | None, lang: str) -> None:
        self.label = f"{name}_{lang}"
        super().__init__(supported_entities=[entity], name=self.label, supported_language=lang)
        self.pattern, self.score, self.refine = regex.compile(pattern), score, refine

    def load(self) -> None:
        """Nothing to load: the regex is compiled in the constructor."""

    def analyze(self, text: str, entities: Sequence[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        """Every match of the regex that the refiner accepts, as a scored result."""
        results, group = [], "v" if "v" in self.pattern.groupindex else 0
        try:
            matches = list(self.pattern.finditer(text, timeout=TIMEOUT_S))
        except TimeoutError:
            limit = f"{TIMEOUT_S:g} s on {len(text):,} characters"
            raise TimeoutError(f"the {self.label} pattern ran over {limit}") from None
        for match in matches:
            start, end = match.span(group)
            span = (0, end - start) if self.refine is None else self.refine(text[start:end])
            if start >= 0 and span is not None and span[1] > span[0]:
                results.append(
                    RecognizerResult(self.supported_entities[0], start + span[0], start + span[1], self.score)
                )
        return results


def blank_model(models_dir: Path, language: str) -> Path:
    """A blank (tokenizer-only) spaCy pipeline saved under ``models_dir``, written once and atomically."""
    import spacy

    path = models_dir / f"blank-{language}"
    if (path / "config.cfg").is_file():
        return path
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".blank-{language}-", dir=models_dir))
    try:
        spacy.blank(language).to_disk(staging)
        os.replace(staging, path)
    except OSError:
        if not (path / "config.cfg").is_file():  # another process won the race: use its copy
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def build_analyzer(models_dir: Path, languages: Sequence[str] = ("en", "es")) -> AnalyzerEngine:
    """A Presidio analyzer with blank spaCy tokenizers and this module's recognizers for every language."""
    import tldextract
    import tldextract.tldextract as tld
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    if tld.TLD_EXTRACTOR.suffix_list_urls:  # Presidio's email/URL recognizers: bundled suffix list, no network
        tld.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    # Tokenizer-only pipelines gain nothing from a GPU; skip Presidio's CUDA probe unless the user asked for one.
    os.environ.setdefault("PRESIDIO_DEVICE", "cpu")
    models = [{"lang_code": lang, "model_name": str(blank_model(models_dir, lang))} for lang in languages]
    engine = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": models}).create_engine()
    recognizers = [
        RegexRecognizer(entity, name, pattern, score, refine, lang)
        for lang in languages
        for entity, name, pattern, score, refine in RECOGNIZERS
    ]
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=list(languages))
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=list(languages))
