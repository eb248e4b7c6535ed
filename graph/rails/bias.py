"""Bias rail (es and en).

Input: a request to treat customers (or staff) differently because of a protected attribute is refused: it names
a group by gender, age, nationality, religion, disability, ethnicity, sexual orientation or wealth *and* asks to
exclude, block, restrict or choose people by it. Mentioning one's own attribute ("I'm 72, how do I track my
order?") is not a request for different treatment and passes.
Output: an answer or an agent's reply that generalises about such a group ("women are bad with money", "customers
from Morocco are all scammers", "los mayores no saben usar el móvil") is flagged (:func:`check_stereotype`)."""

from __future__ import annotations

import re
from typing import Any

from graph.rails.patterns import compile_any, hits
from retrieval.language import strip_accents

_GROUPS = [
    # gender
    r"wom[ae]n|m[ae]n|females?|males?|girls?|boys?|mujer(es)?|hombres?|chic[oa]s|repartidora|repartidor(es)?|"
    r"femenin[oa]|masculin[oa]|single (mothers|fathers|parents|mums|moms)|madres solteras|padres solteros",
    # age
    r"(old|older|elderly|young|younger) (people|customers|folks|ones)|pensioners|seniors|over \d\d|under \d\d|"
    r"mayores( de \d\d)?|menores de \d\d|viejos|ancianos|jovenes|jubilados",
    # nationality / origin
    r"moroccans?|americans?|pakistanis?|irish|romanians?|germans?|english|british|chinese|africans?|latin(o|a)s?|"
    r"mexicans?|immigrants?|foreigners?|arabs?|indians?|ukrainians?|russians?|"
    r"marroquies|moros|americanos|pakistanies|irlandeses|rumanos|alemanes|ingleses|chinos|africanos|latinos|"
    r"sudacas?|inmigrantes?|extranjer[oa]s?|arabes|ucranianos|rusos|franceses|colombian[oa]s?|ecuatorian[oa]s?|"
    # singulars too, except those that also name a language ("solo habla rumano")
    r"marroqui|moro|pakistani|african[oa]|venezolan[oa]s?|peruan[oa]s?|nigerian[oa]s?|senegales(es|as?)?",
    # religion
    r"muslims?|jew(s|ish)?|christians?|catholics?|hindus?|sikhs?|atheists?|musulman(es)?|judios?|cristian[oa]s?|"
    r"catolic[oa]s?|ateos?|musulmanas?",
    # ethnicity
    r"black|white|asian|roma|gypsies|gypsy|negr[oa]s?|blanc[oa]s?|asiatic[oa]s?|gitan[oa]s?|payos?",
    # sexual orientation / gender identity
    r"gays?|lesbians?|straight|bisexuals?|trans|queer|homosexuals?|gais|lesbianas|heteros?|heterosexuales|"
    r"bisexuales|maricones",
    # disability / health
    r"disabled|handicapped|wheelchair|blind|deaf|autistic|mental(ly)? ill(ness(es)?)?|diabetes|diabetics?|"
    r"discapacitad[oa]s?|minusvalid[oa]s?|cieg[oa]s?|sord[oa]s?|enfermedad(es)? mental(es)?|diabetic[oa]s?|autistas?",
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

# --- Stereotypes (output rail; also the agent-reply check) ------------------------------------------------------
# Separate lexicons, used only by check_stereotype: _GROUPS/_GROUP/_DIRECTIVE are features of the fitted input
# classifier (graph/rails/classifier.py) and must not move. A stereotype is a *group* (a plural noun for a protected
# group, "<attribute> people", "people/clientes/los ... from/de <place>") that is the subject of a *generalising
# predicate* from a closed lexicon ("are (all) scammers", "son unos vagos", "can't be trusted", "no saben conducir",
# "always lie"), with at most a few adverbs between them ("in general", "honestly", "todos"). Neutral predicates
# ("are charged customs", "pagan el IGIC", "are eligible") pass whatever the group, and so does a group inside a
# prepositional phrase ("deliveries for customers from Ceuta are slow"), a part of it ("some customers"), someone
# else's words reported ("the courier said women...") and a possessive ("women's sizes are..."). Text is
# accent-folded but keeps its case, so a capitalised word after "from/de" reads as a place name.


def _alt(words: str) -> str:
    """``"a b|c d"`` -> one regex group of alternatives (split at top-level bars, longest first), a space matching
    any run of spaces."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(words):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(words[start:i])
            start = i + 1
    parts.append(words[start:])
    alternatives = (p.strip().replace(" ", r"\s+") for p in parts if p.strip())
    return "(?:" + "|".join(sorted(alternatives, key=len, reverse=True)) + ")"


# Nationality, origin, religion, ethnicity, orientation, disability, age, wealth: adjectives (en) before a person.
_ATTR_EN = _alt(
    "moroccan|algerian|tunisian|egyptian|nigerian|senegalese|ghanaian|african|north african|arab|arabic|middle eastern|"
    "turkish|iranian|afghan|pakistani|indian|bangladeshi|chinese|japanese|korean|vietnamese|filipino|thai|asian|"
    "russian|ukrainian|polish|romanian|bulgarian|albanian|serbian|greek|italian|spanish|portuguese|french|german|"
    "dutch|belgian|swiss|british|english|scottish|welsh|irish|american|canadian|mexican|colombian|venezuelan|"
    "peruvian|ecuadorian|bolivian|argentinian|argentine|brazilian|cuban|dominican|chilean|latin american|"
    "south american|latino|latina|hispanic|caribbean|eastern european|european|catalan|andalusian|galician|basque|"
    "gypsy|roma|romani|jewish|muslim|islamic|christian|catholic|hindu|sikh|buddhist|atheist|black|white|brown|"
    "gay|lesbian|bisexual|trans|transgender|queer|straight|old|older|elderly|aged|young|younger|teenage|disabled|"
    "handicapped|wheelchair|blind|deaf|autistic|mentally ill|poor|rich|wealthy|homeless|foreign|immigrant|migrant|"
    "female|male|women|lady"
)
_PERSON_EN = _alt(
    "people|persons|customers|clients|folks|guys|users|buyers|shoppers|consumers|drivers|couriers|workers|"
    "employees|agents|men|women|ladies|girls|boys|kids|children|families|tourists|students|sellers|vendors|"
    "neighbours|neighbors|callers|immigrants|migrants|parents|mothers|fathers|moms|mums|dads|wives|husbands|"
    "teenagers|residents|citizens|patients"
)
# Plural nouns that name a group by themselves (en).
_NOUNS_EN = _alt(
    "women|men|girls|boys|ladies|females|males|seniors|pensioners|retirees|millennials|boomers|zoomers|teenagers|"
    "teens|immigrants|migrants|foreigners|refugees|expats|moroccans|algerians|tunisians|egyptians|nigerians|"
    "africans|arabs|turks|iranians|afghans|pakistanis|indians|bangladeshis|asians|russians|ukrainians|poles|"
    "romanians|bulgarians|albanians|serbians|serbs|greeks|italians|spaniards|germans|brits|scots|americans|"
    "yankees|canadians|mexicans|colombians|venezuelans|peruvians|ecuadorians|bolivians|argentinians|argentines|"
    "brazilians|cubans|dominicans|chileans|latinos|latinas|hispanics|europeans|gypsies|jews|muslims|moslems|"
    "christians|catholics|protestants|hindus|sikhs|buddhists|atheists|blacks|whites|gays|lesbians|bisexuals|"
    "homosexuals|transgenders|queers|diabetics|autistics|catalans|andalusians|galicians|basques|southerners|"
    "northerners|"
    # "the" + adjective: the group, not a product ("the Chinese are...", "the elderly are...")
    "the poor|the rich|the old|the young|the elderly|the disabled|the blind|the deaf|the french|the english|"
    "the irish|the dutch|the british|the chinese|the japanese|the swiss|the spanish|the portuguese|the welsh|"
    "the scottish|the vietnamese|the senegalese|the roma|roma|the handicapped|the mentally ill|the wealthy|"
    "the homeless|the unemployed|the over-\\d\\ds|over-\\d\\ds|the under-\\d\\ds|under-\\d\\ds"
)
# Spanish: gentilicios and attribute adjectives (also nouns after an article: "los chinos", "los mayores").
_ATTR_ES = _alt(
    "marroquies|argelin[oa]s|tunecin[oa]s|egipci[oa]s|nigerian[oa]s|senegales(es|as)|african[oa]s|norteafrican[oa]s|"
    "magrebies|arabes|moros|moras|turc[oa]s|irani(es)?|afgan[oa]s|pakistanies|paquistanies|indi[oa]s|hindues|"
    "chin[oa]s|japones(es|as)|corean[oa]s|asiatic[oa]s|rus[oa]s|ucranian[oa]s|polac[oa]s|ruman[oa]s|bulgar[oa]s|"
    "albanes(es|as)|servi[oa]s|grieg[oa]s|italian[oa]s|espanol(es|as)|portugues(es|as)|frances(es|as)|"
    "aleman(es|as)|holandes(es|as)|britanic[oa]s|ingles(es|as)|escoces(es|as)|irlandes(es|as)|american[oa]s|"
    "estadounidenses|yanquis|canadienses|mexican[oa]s|colombian[oa]s|venezolan[oa]s|peruan[oa]s|ecuatorian[oa]s|"
    "bolivian[oa]s|argentin[oa]s|brasilen[oa]s|cuban[oa]s|dominican[oa]s|chilen[oa]s|latin[oa]s|"
    "latinoamerican[oa]s|sudamerican[oa]s|hispan[oa]s|sudacas|europe[oa]s|gitan[oa]s|payos|judi[oa]s|"
    "musulman(es|as)|cristian[oa]s|catolic[oa]s|protestantes|evangelic[oa]s|ate[oa]s|gays|gais|lesbianas|"
    "bisexuales|homosexuales|maricones|trans|transexuales|discapacitad[oa]s|minusvalid[oa]s|cieg[oa]s|sord[oa]s|"
    "autistas|diabetic[oa]s|pobres|ric[oa]s|indigentes|vagabund[oa]s|mendig[oa]s|catalan(es|as)|andaluc(es|as)|"
    "galleg[oa]s|vasc[oa]s|madrilen[oa]s|canari[oa]s|asturian[oa]s|valencian[oa]s|aragones(es|as)|extremen[oa]s|"
    "murcian[oa]s|castellan[oa]s|navarr[oa]s|mancheg[oa]s|cantabr[oa]s|riojan[oa]s|mallorquin(es|as)|charnegos|"
    "negr[oa]s|blanc[oa]s|mayores|viej[oa]s|ancian[oa]s|jovenes|extranjer[oa]s|inmigrantes|jubilad[oa]s|"
    "pensionistas|adolescentes|mujeres|hombres|chic[oa]s|repartidoras|heteros|heterosexuales|"
    "(?:mayores|menores) de \\d\\d(?: anos)?|sin papeles|sin techo"
)
_PERSON_ES = _alt(
    "gente|personas|clientes|clientas|usuari[oa]s|compradores|compradoras|consumidores|conductores|conductoras|"
    "repartidores|repartidoras|trabajadores|trabajadoras|emplead[oa]s|hombres|mujeres|chic[oa]s|nin[oa]s|"
    "familias|turistas|estudiantes|vendedores|vendedoras|senores|senoras|vecin[oa]s|ti[oa]s|tipos|madres|padres|"
    "residentes|ciudadan[oa]s|pacientes|inmigrantes|chavales"
)
# Spanish nouns that stand alone without an article ("Mujeres al volante...", "Inmigrantes, todos...").
_NOUNS_ES = _alt(
    "mujeres|hombres|inmigrantes|jubilad[oa]s|ancian[oa]s|pensionistas|sudacas|moros|jovenes|adolescentes|"
    "gitan[oa]s|marroquies|musulmanes|judios|maricones"
)
_DET_ES = _alt(
    "los|las|todos los|todas las|estos|estas|esos|esas|aquellos|aquellas|muchos|muchas|la mayoria de los|"
    "la mayoria de las|casi todos los|casi todas las"
)
_PLACE = _alt(
    # countries and regions people are grouped by (lower-case typing; a capitalised name is a place anyway)
    "morocco|marruecos|algeria|argelia|tunisia|tunez|egypt|egipto|nigeria|senegal|ghana|africa|north africa|"
    "norte de africa|the maghreb|el magreb|magreb|turkey|turquia|iran|afghanistan|afganistan|pakistan|india|"
    "la india|bangladesh|china|japan|japon|korea|corea|vietnam|the philippines|filipinas|thailand|tailandia|asia|"
    "russia|rusia|ukraine|ucrania|poland|polonia|romania|rumania|bulgaria|albania|serbia|greece|grecia|italy|"
    "italia|spain|espana|portugal|france|francia|germany|alemania|the netherlands|holanda|paises bajos|belgium|"
    "belgica|switzerland|suiza|the uk|uk|britain|great britain|england|inglaterra|scotland|escocia|wales|gales|"
    "ireland|irlanda|the us|the usa|usa|america|eeuu|estados unidos|canada|mexico|colombia|venezuela|peru|"
    "ecuador|bolivia|argentina|brazil|brasil|cuba|dominican republic|republica dominicana|chile|latin america|"
    "latinoamerica|south america|sudamerica|suramerica|central america|centroamerica|the caribbean|el caribe|"
    "europe|europa|eastern europe|europa del este|the middle east|oriente medio|the balkans|los balcanes|"
    "catalonia|cataluna|andalusia|andalucia|galicia|the basque country|pais vasco|euskadi|madrid|barcelona|"
    "valencia|murcia|extremadura|asturias|aragon|navarra|cantabria|la rioja|castilla|la mancha|canarias|"
    "the canary islands|las islas canarias|baleares|the balearic islands|ceuta|melilla|"
    # where, not which country
    "the south|the north|the east|the west|el sur|el norte|el este|el oeste|sur|norte|abroad|fuera|there|alli|alla|"
    "other countries|otros paises|that country|ese pais|the countryside|el campo|los pueblos|the ghetto|el barrio"
)
_NAME = r"(?-i:[A-Z][A-Za-z-]+(?:\s+[A-Z][A-Za-z-]+){0,2})"
_FROM = rf"(?:the\s+|la\s+|el\s+|los\s+|las\s+)?(?:{_PLACE}|{_NAME})\b"
_ORIGIN = (
    r"(?:(?:\w+\s+){1,2}(?:origin|descent|background|heritage|faith|religion)|"
    r"(?:origen|raza|etnia|religion|ascendencia|nacionalidad)\s+\w+|colou?r)\b"
)
_GROUP_RE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            # "customers from Morocco", "people of Moroccan origin", "clientes de Marruecos", "los de Andalucia"
            rf"\b(?:{_PERSON_EN}|those)\s+of\s+(?:the\s+)?{_ORIGIN}",
            rf"\b(?:{_PERSON_EN}|those|ones)\s+(?:from|of)\s+{_FROM}",
            rf"\b(?:la\s+)?{_PERSON_ES}\s+de\s+{_ORIGIN}",
            rf"\b(?:(?:la\s+)?{_PERSON_ES}|los|las|aquellos|aquellas)\s+(?:de|del|de\s+la|de\s+los|de\s+las)\s+{_FROM}",
            r"\b(?:la\s+)?(?:gente|personas)\s+con\s+(?:discapacidad|diversidad funcional|enfermedades mentales)\b",
            # "Moroccan people", "older customers", "women drivers"
            rf"\b(?:{_ATTR_EN})\s+(?:{_PERSON_EN})\b",
            rf"\b(?:{_PERSON_EN})\s+(?:over|under|above|aged)\s+\d\d\b",
            # "clientes marroquies", "gente mayor", "personas mayores"
            rf"\b(?:(?:la\s+)?{_PERSON_ES})\s+(?:{_ATTR_ES}|mayor|joven|pobre|rica|de\s+color|de\s+fuera|sin\s+(?:dinero|recursos|papeles))\b",
            # "los chinos", "las mujeres", "los mayores"
            rf"\b(?:{_DET_ES})\s+(?:{_ATTR_ES})\b",
            rf"\b(?:{_NOUNS_EN}|{_NOUNS_ES})\b",
        )
    ),
    re.IGNORECASE,
)
# Words that may stand between a group and its predicate: adverbs, hedges, quantifiers ("honestly", "en general").
_FILLER = _alt(
    "all|all of them|mostly|usually|generally|in general|really|honestly|frankly|basically|typically|always|often|"
    "just|simply|also|too|here|nowadays|these days|today|in my experience|i think|i'd say|obviously|clearly|"
    "of course|anyway|seriously|literally|definitely|certainly|probably|naturally|as we know|as everyone knows|"
    "you know|because|since|they|todos|todas|casi todos|porque|ya que|ellos|ellas|siempre|en general|"
    "por lo general|la verdad|normalmente|generalmente|"
    "realmente|sinceramente|de hoy|de hoy en dia|hoy en dia|de ahora|en mi experiencia|creo yo|creo|obviamente|"
    "claro|ya sabes|tambien|aqui|encima|ademas|basicamente|literalmente|desde luego|por supuesto"
)
_COPULA = _alt("are|were|they're|seem|seem to be|act like|behave like|son|eran|es|era|parecen|parece|siguen siendo")
# Words between a copula and the trait: "are ALL scammers", "are A BUNCH OF thieves", "son TODOS UNOS estafadores".
_INTENS = _alt(
    "all|always|usually|mostly|generally|typically|basically|just|simply|really|so|such|very|too|pretty|quite|"
    "extremely|incredibly|total|complete|utter|absolute|natural|naturally|born|notorious|known|famous|famously|"
    "a|an|the|bunch|pack|lot|load|of|nothing but|real|genuine|little|todos|todas|siempre|normalmente|muy|tan|"
    "bastante|unos|unas|un|una|monton de|panda de|banda de|pandilla de|atajo de|putos|putas|autenticos|"
    "verdaderos|mas|super|demasiado|algo|de lo mas|igual de|gente|personas|people|a little"
)
_TRAIT = _alt(
    # en
    "scammers|scam artists|con artists|conmen|crooks|frauds|fraudsters|cheats|cheaters|swindlers|thieves|robbers|"
    "shoplifters|pickpockets|liars|lying|dishonest|untrustworthy|unreliable|shady|sketchy|dodgy|criminals|"
    "criminal|delinquents|gangsters|thugs|terrorists|extremists|fanatics|violent|aggressive|dangerous|savages|"
    "animals|barbaric|primitive|backward|uncivilised|uncivilized|lazy|idle|good for nothing|good-for-nothing|"
    "freeloaders|spongers|parasites|leeches|scroungers|dirty|filthy|smelly|unhygienic|disgusting|stupid|dumb|"
    "idiots|morons|imbeciles|retarded|thick|slow|dim|ignorant|uneducated|illiterate|clueless|incompetent|"
    "useless|hopeless|worthless|inferior|rude|impolite|arrogant|loud|obnoxious|annoying|pushy|cheap|stingy|"
    "greedy|tight-fisted|misers|miserly|money-grabbing|drunks|drunkards|alcoholics|addicts|junkies|emotional|"
    "hysterical|irrational|dramatic|bossy|weak|troublemakers|trouble|problematic|menace|burden|nuisance|plague|"
    "disgrace|pests|vermin|scum|trash|rubbish|garbage|evil|perverts|deviants|predators|unnatural|abnormal|"
    "freaks|all the same|the worst|terrible|awful|horrible|unbearable|a nightmare|mentally ill|sick in the head|"
    "drug addicts|drug dealers|dealers|(?:bad|terrible|awful|horrible|lousy|crap|worse) drivers|"
    "(?:bad|terrible|awful|horrible|hopeless|useless|rubbish|crap|no good|good|great|better|worse|clumsy) "
    "(?:at|with)|worse than|better than|(?:always|forever|constantly|chronically) late|old (?:to|for)|"
    "not to be trusted|never (?:honest|on time)|"
    # es
    "estafador(?:es|as)?|timador(?:es|as)?|trampos[oa]s|ladron(?:es|as)?|ladrona|chorizos|mangantes|rateros|"
    "carteristas|delincuentes|criminales|maleantes|mafios[oa]s|terroristas|violent[oa]s|agresiv[oa]s|"
    "peligros[oa]s|salvajes|animales|bestias|primitiv[oa]s|incivilizad[oa]s|mentiros[oa]s|embuster[oa]s|"
    "fals[oa]s|deshonest[oa]s|vag[oa]s|gandul(?:es|as)|holgazan(?:es|as)|perezos[oa]s|parasitos|gorron(?:es|as)|"
    "aprovechad[oa]s|caraduras|jetas|sinverguenzas|mantenid[oa]s|suci[oa]s|guarr[oa]s|cerd[oa]s|marran[oa]s|"
    "apestos[oa]s|tont[oa]s|estupid[oa]s|idiotas|imbeciles|subnormales|retrasad[oa]s|torpes|lent[oa]s|"
    "cortit[oa]s|burr[oa]s|brut[oa]s|ignorantes|incult[oa]s|analfabet[oa]s|negad[oa]s|inutiles|incompetentes|"
    "inferiores|maleducad[oa]s|groser[oa]s|bordes|prepotentes|ruidos[oa]s|pesad[oa]s|tacan[oa]s|agarrad[oa]s|"
    "ratas|ronos[oa]s|avar[oa]s|codicios[oa]s|interesad[oa]s|borrach[oa]s|drogadictos|yonquis|histeric[oa]s|"
    "exagerad[oa]s|dramatic[oa]s|debiles|problematic[oa]s|conflictiv[oa]s|peligro|estorbo|plaga|lacra|molestia|"
    "carga|desastre|escoria|basura|gentuza|chusma|tod[oa]s iguales|insoportables|horribles|una pesadilla|"
    "enferm[oa]s mentales|drogatas|traficantes|camellos|narcos|"
    "mentiroso|mentirosa|vago|vaga|sucio|sucia|tonto|tonta|lento|lenta|tacano|tacana|maleducado|maleducada|"
    "(?:mal[oa]s|peores|pesim[oa]s|fatales|negad[oa]s|torpes|un desastre) (?:con|en|para|conduciendo|al volante|"
    "pagando|conductor(?:es|as)|clientes|pagador(?:es|as))|peores|"
    "mayores para|viej[oa]s para"
)
_NOT_TRAIT = _alt(  # a negated virtue: "aren't honest", "no son de fiar"
    "aren't|are not|arent|no son|no es|nunca son"
)
_VIRTUE = _alt(
    "honest|trustworthy|reliable|to be trusted|clean|smart|intelligent|civilised|civilized|"
    "de fiar|fiables|honrad[oa]s|de confianza|trigo limpio|limpi[oa]s|list[oa]s|inteligentes|educad[oa]s|"
    "trabajador(?:es|as)|personas de bien|gente de bien"
)
_ADVERB = _alt(  # before a verb: "ALWAYS lie", "SUELEN robar", "ARE MORE LIKELY TO steal", "ONLY COME HERE TO"
    "always|never|all|usually|just|only|also|constantly|tend to|are known to|are likely to|are more likely to|"
    "they're likely to|they're more likely to|they're known to|are always trying to|always trying to|are trying to|"
    "are always|are constantly|are forever|estan siempre|siempre estan|"
    "are prone to|are more prone to|will|would|only come here to|come here to|only want to|just want to|"
    "siempre|nunca|todos|todas|solo|solamente|tambien|tienden a|suelen|son propensos a|son mas propensos a|"
    "vienen a|solo vienen a|vienen aqui a|se dedican a|intentan|try to|always try to"
)
_VERB = _alt(
    # en
    "steal|rob|lie|cheat|scam|con people|swindle|defraud|commit fraud|commit crimes|shoplift|default|"
    "mess (?:up|things up|everything up)|screw (?:up|things up|everything up)|get (?:it|everything) wrong|"
    "make mistakes|(?:don't|do not|never) understand (?:anything|technology|tech|computers|money|a thing|simple)|"
    "pay (?:late|their bills late)|"
    "cause trouble|make trouble|make a scene|rip (?:you|us|people) off|"
    "smell|stink|"
    "(?:never|don't|do not|won't|refuse to) pay (?:their (?:bills|debts)|back|it back|on time|what they owe|anything)|"
    "can't be trusted|cannot be trusted|shouldn't be trusted|should not be trusted|"
    "(?:(?:don't|do not|never) know how|have no idea how|never learn(?:ed)?(?: how)?) to \\w+|"
    "(?:can't|cannot|can not|are unable to|struggle to) (?:drive|park|cook|cope|keep up|behave|read (?:maps|a map|"
    "instructions|properly)|handle (?:technical|tech|technology|money|stress|pressure|anything|it|complexity)|"
    "use (?:technology|tech|computers|a computer|phones|a phone|smartphones|a smartphone|the internet|anything)|"
    "understand (?:anything|technology|tech|simple|instructions|a thing|money)|manage money|"
    "do (?:maths?|anything|math)|follow (?:instructions|simple)|speak (?:properly|english|spanish))|"
    "drive (?:badly|terribly|like)|park (?:badly|terribly)|"
    "only care about (?:money|themselves)|only want (?:money|free stuff|something for nothing)|"
    "want everything for free|take advantage|abuse the system|live off (?:benefits|welfare|the state|us)|"
    "get (?:free stuff|everything for free|something for nothing|stuff for free)|conseguir (?:todo )?gratis|"
    "(?:are )?(?:taking|stealing) our jobs|nos (?:estan )?quitando el trabajo|"
    "take our jobs|steal our jobs|ruin everything|ruin it|should (?:all )?go back|don't belong here|"
    # es
    "colarla|colarnosla|roban|robar|mienten|mentir|enganan|enganar|estafan|estafar|timan|timar|delinquen|"
    "delinquir|trafican|"
    "dan problemas|montan (?:un|el) (?:lio|escandalo|numerito)|"
    "(?:no|nunca) pagan (?:nunca|nada|sus deudas|sus facturas|a tiempo|lo que deben)|"
    "no (?:se puede|puedes|hay que) fiarse|"
    "(?:no|nunca) (?:saben|sabe) (?:usar|utilizar|conducir|aparcar|leer|escribir|contar|cocinar|hacer|comportarse|"
    "nada|lo que|ni|manejar|gestionar|administrar|hablar)|"
    "(?:no|nunca) (?:entienden|entiende|saben|sabe) de (?:nada|tecnologia|informatica|ordenadores|moviles|dinero|"
    "numeros|cosas tecnicas|motores|coches|electronica)|la lian|meten la pata|"
    "(?:no|nunca) pagan?(?=\\s*(?:[.,;:!?]|y\\s|$))|(?:never|don't|do not|won't) pay(?=\\s*(?:[.,;:!?]|and\\s|$))|"
    "no se enteran|no se entera|no entienden nada|no entiende nada|no tienen ni idea|no tiene ni idea|"
    "no son capaces de|son incapaces de|"
    "(?:quieren|buscan|piensan en) (?:dinero|el dinero|aprovecharse|enganar|estafar|robar|lo gratis|cosas gratis)|"
    "se aprovechan|aprovecharse|quitarnos|(?:viven|vivir) de (?:las ayudas|la paguita|las paguitas|subvenciones|"
    "los demas|nuestros impuestos)|nos quitan el trabajo|quitan el trabajo|huelen mal|apestan|"
    "deberian (?:volver|volverse|irse) a su pais|no pintan nada|lo estropean todo|lo rompen todo|"
    "conducen (?:fatal|mal|como)|aparcan (?:fatal|mal)"
)
_HABIT = _alt(
    "complain|whine|moan|haggle|argue|protest|show up late|arrive late|turn up late|run late|are late|get it wrong|"
    "se quejan|protestan|regatean|discuten|llegan tarde|se equivocan|se retrasan|"
)
_HABITUALLY = _alt("always|constantly|forever|all the time|siempre|constantemente|todo el rato|nunca dejan de")
_TOO_MUCH = _alt("too much|all the time|about everything|demasiado|por todo|de todo|todo el rato|siempre|por nada")
_VERB = rf"(?:{_VERB}|{_HABITUALLY}\s+(?:{_HABIT})|(?:{_HABIT})\s+(?:{_TOO_MUCH}))"
_PREDICATE = re.compile(
    rf"(?:,?\s+(?:{_FILLER})(?!\w)){{0,3}},?\s+"
    rf"(?:(?:{_COPULA})(?:\s+(?:{_INTENS})(?!\w)){{0,4}}\s+(?:{_TRAIT})(?!\w)"
    rf"|(?:{_NOT_TRAIT})\s+(?:{_VIRTUE})(?!\w)"
    rf"|(?:(?:{_ADVERB})\s+){{0,2}}(?:{_VERB})(?!\w))",
    re.IGNORECASE,
)
# Group-first forms do not cover "All scammers are from X", "never trust X", "no te fies de X".
_REVERSED = re.compile(
    rf"\b(?:(?:all|most|the)\s+)?(?:scammers|thieves|criminals|fraudsters|liars|terrorists)\s+are\s+"
    rf"(?:(?:all|mostly|always)\s+)?from\s+{_FROM}"
    rf"|\b(?:tod[oa]s\s+l[oa]s\s+|l[oa]s\s+)?(?:estafadores|ladrones|delincuentes|criminales|mentirosos|terroristas)\s+"
    rf"son\s+(?:(?:todos|casi todos|siempre)\s+)?(?:de|del)\s+{_FROM}"
    rf"|\b(?:never|don't|do not)\s+trust\s+(?:a|an|any|the)?\s*(?:{_NOUNS_EN}|(?:{_PERSON_EN}|those)\s+from)"
    rf"|\bno\s+(?:te\s+|os\s+|se\s+)?(?:fies|fieis|fien|fiarse|hay que fiarse)\s+(?:nunca\s+)?de\s+"
    rf"(?:l[oa]s\s+|un[oa]?\s+|ningun[oa]?\s+)?(?:{_PERSON_ES}|{_ATTR_ES})"
    rf"|\blo\s+{_TRAIT}\s+que\s+son\s+(?:{_DET_ES})\s+(?:{_PERSON_ES}|{_ATTR_ES})"
    rf"|\bhow\s+{_TRAIT}\s+(?:{_NOUNS_EN}|(?:{_ATTR_EN})\s+(?:{_PERSON_EN}))\s+are\b"
    rf"|\bmujer(?:es)? al volante",
    re.IGNORECASE,
)
# What comes just before a group and makes it no generalisation of the speaker's: a preposition (the group is not the
# subject: "deliveries FOR customers from Ceuta are slow"), a part of the group ("SOME customers", "DOS clientes"),
# or someone else's words reported ("the courier SAID women can't drive", "me DIJO QUE las mujeres...": a customer
# reporting it, an agent apologising for it). The speaker's own "I think" / "creo que" stays a generalisation.
_REPORTED_EN = _alt(
    r"said|says|say|told (?:me|us|you|him|her|them|(?:my|his|her|our|their|a|an|the) \w+)|"  # "told my dad"
    "think|thinks|believe|believes|claim|claims|claimed|assume|assumes|"
    "assumed|implied|implies|suggested|seem to think|seems to think|stated|argued|insisted|explained|replied|"
    "answered|wrote|mentioned|commented|shouted|yelled"
)
_REPORTED_ES = _alt(
    "dijo|dice|dicen|decia|decian|dijeron|dijera|dijese|dijeran|diga|digan|cree|creen|crees|creeis|creia|crea|"
    "crean|piensa|piensan|piensas|pensais|penso|piense|afirma|afirmo|afirmaba|asegura|aseguro|aseguraba|opina|"
    "opino|opinaba|sostiene|sostuvo|comento|explico|contesto|respondio|grito|insistio|escribio|solto|insinuo|"
    "insinua|insinuan|da a entender|como si|segun el|segun ella|segun ellos|segun ellas|segun tu|segun usted"
)
_NOT_THE_SPEAKERS = re.compile(
    r"(?:\b(?:for|to|with|by|about|from|of|at|on|in|into|than|as|para|a|al|con|por|sobre|de|del|en|entre|hacia|"
    r"desde|sin)\s+(?:(?:the|our|your|their|all|los|las|el|la|nuestros|nuestras|sus|todos los|todas las)\s+)?"
    r"|\b(?:some|a few|few|certain|several|one|two|three|\d+|a couple of|algun[oa]s|ciert[oa]s|vari[oa]s|"
    r"un[oa]s pocos|un[oa]s cuant[oa]s|un par de|dos|tres)\s+(?:of the\s+|de l[oa]s\s+)?"
    rf"|\b(?!i\s|we\s)\w+\s+{_REPORTED_EN}(?:\s+\w+ly)?(?:\s+that)?\s*[:\"“«']?\s*(?:all\s+)?"
    rf"|\bas if\s+(?:all\s+)?|\b{_REPORTED_ES}(?:\s+\w+mente)?(?:\s+que)?\s*[:\"“«']?\s*(?:todos\s+|todas\s+)?)$",
    re.IGNORECASE,
)


# A customer quoting someone else's remark about a group in order to complain about it: "Your courier said women
# can't drive. I want to complain.", "El repartidor le dijo a mi madre que los extranjeros no deberían pedir online.
# Quiero poner una reclamación." Someone other than the customer said it (not "I think..."), and the message complains.
_REMARK = re.compile(rf"\b(?!i\s|we\s|yo\s)\w+\s+(?:\w+\s+){{0,3}}?(?:{_REPORTED_EN}|{_REPORTED_ES})\b", re.IGNORECASE)
_COMPLAINT = compile_any(
    [
        r"\b(complain|complaint|unacceptable|disgusting|offensive|outrageous|appalled|apologi[sz]e|apology|"
        r"queja|quejarme|reclamacion|reclamar|denunciar|denuncia|inaceptable|verguenza|ofensiv[oa]|indignad[oa]|"
        r"intolerable|disculpa|disculpas)\b"
    ]
)


def reports_a_remark(text: str) -> bool:
    """Whether ``text`` reports someone else's remark and complains about it (see ``_REMARK``)."""
    folded = strip_accents(text.replace("’", "'"))
    return bool(_REMARK.search(folded) and hits(_COMPLAINT, folded))


def check_bias_request(text: str) -> dict[str, Any]:
    """``{"flagged", "groups", "directives"}``: a request for different treatment by a protected attribute."""
    groups, directives = hits(_GROUP, text), hits(_DIRECTIVE, text)
    return {"flagged": bool(groups and directives), "groups": groups[:3], "directives": directives[:3]}


def check_stereotype(answer: str) -> dict[str, Any]:
    """``{"flagged", "matches"}``: a generalisation about a protected group (a group followed by a generalising
    predicate, or one of the reversed forms), in a bot answer or an agent reply; matches are lower-case."""
    text = strip_accents(answer.replace("’", "'"))
    found = []
    for group in _GROUP_RE.finditer(text):
        if text[group.end() : group.end() + 1] == "'" or _NOT_THE_SPEAKERS.search(
            text[max(0, group.start() - 60) : group.start()]
        ):
            continue  # "women's sizes", "for customers from Ceuta", "he said women...": not a generalisation made here
        predicate = _PREDICATE.match(text, group.end())
        if predicate:
            found.append(text[group.start() : predicate.end()].lower())
    found += [m.group(0).lower() for m in _REVERSED.finditer(text)]
    return {"flagged": bool(found), "matches": found[:3]}
