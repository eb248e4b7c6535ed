"""Bias rail (es and en).

Input: a request to treat customers (or staff) differently because of a protected attribute is refused: it names
a group by gender, age, nationality, religion, disability, ethnicity, sexual orientation or wealth *and* asks to
exclude, block, restrict or choose people by it. Mentioning one's own attribute ("I'm 72, how do I track my
order?") is not a request for different treatment and passes.
Output: an answer that generalises about such a group ("women are...", "los mayores nunca...") is flagged.
"""

from __future__ import annotations

from typing import Any

from graph.rails.patterns import compile_any, hits

_GROUPS = [
    # gender
    r"wom[ae]n|m[ae]n|females?|males?|girls?|boys?|mujer(es)?|hombres?|chic[oa]s|repartidora|repartidor(es)?|"
    r"femenin[oa]|masculin[oa]",
    # age
    r"(old|older|elderly|young|younger) (people|customers|folks|ones)|pensioners|seniors|over \d\d|under \d\d|"
    r"mayores( de \d\d)?|menores de \d\d|viejos|ancianos|jovenes|jubilados",
    # nationality / origin
    r"moroccans?|americans?|pakistanis?|irish|romanians?|germans?|english|british|chinese|africans?|latin(o|a)s?|"
    r"mexicans?|immigrants?|foreigners?|arabs?|indians?|ukrainians?|russians?|"
    r"marroquies|moros|americanos|pakistanies|irlandeses|rumanos|alemanes|ingleses|chinos|africanos|latinos|"
    r"sudacas|inmigrantes|extranjeros|arabes|ucranianos|rusos|franceses|colombianos|ecuatorianos",
    # religion
    r"muslims?|jew(s|ish)?|christians?|catholics?|hindus?|sikhs?|atheists?|musulman(es)?|judios?|cristian[oa]s?|"
    r"catolic[oa]s?|ateos?",
    # ethnicity
    r"black|white|asian|roma|gypsies|gypsy|negr[oa]s?|blanc[oa]s?|asiatic[oa]s?|gitan[oa]s?|payos?",
    # sexual orientation / gender identity
    r"gays?|lesbians?|straight|bisexuals?|trans|queer|homosexuals?|gais|lesbianas|heteros?|heterosexuales|"
    r"bisexuales|maricones",
    # disability / health
    r"disabled|handicapped|wheelchair|blind|deaf|autistic|mental(ly)? ill(ness(es)?)?|diabetes|diabetics?|"
    r"discapacitad[oa]s|minusvalid[oa]s|ciegos|sordos|enfermedad(es)? mental(es)?|diabetic[oa]s|autistas",
    # socioeconomic
    r"rich|poor|wealthy|homeless|ricos|pobres|indigentes|gente sin dinero",
]
_GROUP = compile_any(rf"\b(?:{g})\b" for g in _GROUPS)
_DIRECTIVE = compile_any(
    [
        r"\bonly (let|allow|give|offer|sell|serve|women|men|rich|poor|\w+ customers)\b",
        r"\b(should(n'?t| not)|must(n'?t| not)) (get|be allowed|use|have|be served)\b",
        r"\b(stop|don'?t|do not|never) (selling|sell|letting|let|allow|allowing|serving|serve)\b",
        r"\b(block|ban|exclude|blacklist|refuse)\b",
        r"\bmake sure (no|it'?s a|i don'?t get|they|that no)\b",
        r"\bi don'?t want (a|an|any|the)?\s?\w*\s?(courier|driver|agent|person|staff|delivery|couriers|drivers)\b",
        r"\bsolo (las|los|lo|le|les)\b.{0,40}\b(deberian|puedan|pueda|usar|usen)\b",
        r"\bque no (se puedan|se pueda|me atienda|lo usen|usen|compren|entren)\b",
        r"\bno (dejeis|dejen|dejes|deje|les dejeis|se lo ofrezcais|les vendais)\b",
        r"\b(bloquea(d|r|dlos|dles)?|prohibi(d|r)|excluid|vetad|rechaza(r|d))\b",
        r"\bdejad de (venderles|vender|atender)\b",
        r"\baseguraos de que (ningun|ninguna|no)\b",
        r"\bno quiero que me (traiga|traigan|atienda|atiendan|lleve|lleven)\b",
        r"\bque sea un(a)? (hombre|mujer|chico|chica)\b",
    ]
)
_GENERALISATION = compile_any(
    [
        rf"\b(all|most|typical|those|these)? ?(?:{'|'.join(_GROUPS)})\b (are (all |always |usually )?|always |never "
        rf"|can'?t |cannot |tend to |don'?t know how)",
        rf"\b(las|los|todas las|todos los)? ?(?:{'|'.join(_GROUPS)})\b (son|siempre|nunca|no saben|suelen|tienden a)\b",
    ]
)


def check_bias_request(text: str) -> dict[str, Any]:
    """``{"flagged", "groups", "directives"}``: a request for different treatment by a protected attribute."""
    groups, directives = hits(_GROUP, text), hits(_DIRECTIVE, text)
    return {"flagged": bool(groups and directives), "groups": groups[:3], "directives": directives[:3]}


def check_stereotype(answer: str) -> dict[str, Any]:
    """``{"flagged", "matches"}``: a generalisation about a protected group in an answer."""
    found = hits(_GENERALISATION, answer)
    return {"flagged": bool(found), "matches": found[:3]}
