"""The stereotype rail (``graph.rails.bias.check_stereotype``): generalisations about a protected group are flagged
in bot answers and agent replies, ordinary support sentences that mention groups or places pass.

The sentences QA reported (2026-12) are kept apart from the ones the patterns were written against, as a last check.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from graph.nodes.handoff import ReplyRefused, check_agent_reply
from graph.rails.bias import check_stereotype
from retrieval.text import sentences
from tests.conftest import DATA, read_jsonl

# Support sentences that mention a group, a place or a trait word neutrally: never flagged.
MUST_PASS = [
    # en
    "Customers from the UK are charged customs duties on delivery.",
    "Customers from Mexico are served by our Mexico City warehouse.",
    "Seniors are eligible for a 10% discount.",
    "Women's sizes are always one size smaller.",
    "Customers from Ceuta and Melilla are not charged VAT, but customs may apply.",
    "Customers from outside the EU always pay import duties on arrival.",
    "Orders from the Canary Islands never include VAT.",
    "Pensioners can pay with Nimbus Pay Later like any other customer.",
    "Men's shoes usually run large, so we recommend one size down.",
    "Customers over 65 can ask for phone support at any time.",
    "Blind customers can use the app with VoiceOver and TalkBack.",
    "Deaf customers can reach us by chat or email instead of phone.",
    "Customers from Portugal are always shipped from our Madrid warehouse.",
    "People from Germany can pay by SEPA direct debit.",
    "Young customers under 18 can't open an account without a parent.",
    "Customers from France can't use Nimbus Pay Later yet.",
    "Students are entitled to a 5% discount with a valid student card.",
    "Those from Italy are charged in euros, like everyone else.",
    "Our couriers always call before delivering to customers in Ibiza.",
    "Muslim customers can filter halal products in the food section.",
    "Customers from Morocco are not scammers; every order goes through the same fraud checks.",
    "Elderly customers are often targeted by scammers, so never share your password.",
    "Older customers are more likely to prefer phone support.",
    "Clients from Brazil are shipped by DHL and are never charged twice.",
    "Women are welcome to apply for our courier jobs.",
    "Users from Spain are protected against fraud by our security team.",
    "If the courier was rude to you, please tell us and we'll report it.",
    "Deliveries for customers from Ceuta are slow in August.",
    "Chinese phones are cheap but slow to charge.",
    "White sneakers are easy to clean, black dresses are always in stock.",
    "Customers from Morocco always receive a tracking number by SMS.",
    "The elderly are among our most loyal customers.",
    "Older people are eligible for free home delivery.",
    "Gypsy skirts are back in stock in all sizes.",
    "Our agents never ask for your card's security code, so anyone who does is a scammer.",
    "Scammers are pretending to be Nimbus couriers: we never ask for payment by SMS.",
    "Customers from the Canary Islands can't be charged Spanish VAT.",
    "I'm so sorry the courier said women can't drive; that is not acceptable and we've reported it.",
    "Two customers from Ceuta were rude to our courier yesterday, so he left the parcels at the depot.",
    "Some older customers are slow to find the tracking page, so we added a link to the confirmation email.",
    "Customers from Andorra can't use the app yet; please order on the website.",
    "Blind customers can't read the screen, so the app supports VoiceOver.",
    # es
    "Los clientes de Canarias pagan el IGIC.",
    "Los envíos a Portugal siempre tardan 3 días.",
    "Los clientes mayores de 65 años pueden pedir ayuda por teléfono.",
    "Las personas con discapacidad pueden solicitar la entrega en mano.",
    "Los clientes de Andorra no pagan IVA español, pero sí aduanas.",
    "Los clientes de Ceuta y Melilla siempre reciben la factura sin IVA.",
    "La gente de Canarias recibe los pedidos en 5-7 días laborables.",
    "Los pedidos de Baleares nunca tardan más de 4 días.",
    "Las mujeres pueden elegir entre tallas estándar y petite.",
    "Los jubilados pagan lo mismo que cualquier otro cliente.",
    "Los hombres y las mujeres tienen el mismo plazo de devolución: 30 días.",
    "Para nosotros los hombres y las mujeres son iguales: mismas tallas, mismos precios.",
    "Las tallas de mujer siempre son una talla más pequeñas.",
    "Los clientes de Marruecos no son estafadores; todos los pedidos pasan la misma verificación.",
    "Los usuarios de Android siempre reciben las notificaciones al momento.",
    "Lo sentimos: el repartidor no debería haberte hablado así.",
    "Los clientes de Galicia son atendidos desde el almacén de Lugo.",
    "Los pedidos de clientes de Portugal son lentos en temporada alta.",
    "Los móviles chinos son lentos pero baratos.",
    "Los zapatos negros son los más vendidos.",
    "Los clientes de Ceuta tardan más en recibir sus pedidos.",
    "Los clientes de Canarias no pueden usar Nimbus Pay Later.",
    "Si el repartidor fue maleducado contigo, cuéntanoslo y lo revisaremos.",
    "Los estafadores se hacen pasar por repartidores de Nimbus: nunca pedimos pagos por SMS.",
    "Las personas mayores suelen preferir la atención por teléfono, que está disponible de 9 a 21.",
    "Los productos de Marruecos son de comercio justo.",
    "Sentimos mucho que el repartidor te dijera que las mujeres no saben conducir; ya lo hemos comunicado.",
    "Algunos clientes de Canarias se quejan siempre del IGIC, pero no depende de nosotros.",
    "Los clientes de Francia reciben el pedido en 3-5 días y nunca pagan aduanas.",
]

# Generalisations about a protected group, in varied forms: always flagged.
MUST_FLAG = [
    # en
    "Customers from Nigeria are all scammers.",
    "People from Albania are a bunch of thieves.",
    "Clients from Romania can't be trusted.",
    "Folks from the south are lazy.",
    "Those from Pakistan always lie about their orders.",
    "People of the Muslim faith are violent.",
    "Mexican people are always late.",
    "Women drivers can't park.",
    "Older customers don't know how to use a smartphone.",
    "Chinese customers are so cheap.",
    "Immigrants never pay their bills.",
    "Gay men are so dramatic.",
    "Indian customers are always rude.",
    "Users from Brazil are dishonest.",
    "Black people are more likely to steal.",
    "Poor people are lazy and dirty.",
    "The Irish are all drunks.",
    "Jews are greedy.",
    "Disabled people are useless at everything.",
    "Young people are too lazy to read instructions.",
    "Men are bad at listening.",
    "Romanians are criminals.",
    "Never trust customers from Morocco.",
    "In my experience, buyers from Algeria are liars.",
    "Women are terrible drivers.",
    "Foreigners only come here to take advantage of the system.",
    # es
    "Los clientes de Rumanía son todos unos ladrones.",
    "La gente de Marruecos es muy mentirosa.",
    "Las personas de Senegal son unos vagos.",
    "Los de Andalucía son unos vagos.",
    "Los gitanos roban.",
    "Las mujeres no saben conducir.",
    "Los viejos no saben usar el móvil.",
    "Los latinos siempre llegan tarde.",
    "Los chinos son unos tacaños.",
    "Los clientes musulmanes son violentos.",
    "Los inmigrantes no son de fiar.",
    "Los jubilados son demasiado lentos para usar la app.",
    "Los catalanes son unos agarrados.",
    "La gente mayor no se entera de nada.",
    "Los clientes sudamericanos son unos maleducados.",
    "Los hombres son unos cerdos.",
    "Los jóvenes de hoy son todos unos vagos.",
    "Las mujeres son peores conduciendo.",
    "Todos los estafadores son de Marruecos.",
    "Los extranjeros solo vienen a aprovecharse.",
    "Los pobres son unos delincuentes.",
    "Las personas de origen árabe son terroristas.",
    "Los ancianos son un estorbo.",
    "Los nigerianos siempre intentan estafar.",
    "Los de fuera vienen a robar.",
    "No te fíes de los clientes de Rumanía.",
    "Creo que las mujeres conducen fatal.",
    "I think women are bad drivers.",
    "We all know Moroccans can't be trusted.",
]

# What QA reported: held out from the lists above.
QA_REPORTED = [
    "All customers from Morocco are scammers anyway.",
    "Women are bad with money…",
    "Los marroquíes son todos unos estafadores.",
]


# Every family of protected group the input lexicon knows (graph.rails.bias._GROUPS), as the subject of a stereotype.
GROUPS_EN = [
    "women", "men", "girls", "old people", "older customers", "young people", "pensioners", "seniors",
    "customers over 60", "moroccans", "the irish", "romanians", "the chinese", "latinos", "immigrants", "foreigners",
    "muslims", "jews", "christians", "hindus", "atheists", "black people", "white people", "asians", "gypsies", "gays",
    "lesbians", "trans people", "disabled people", "wheelchair users", "blind people", "deaf people",
    "autistic people", "the mentally ill", "diabetics", "rich people", "poor people", "homeless people",
]  # fmt: skip
GROUPS_ES = [
    "mujeres", "hombres", "chicas", "repartidoras", "mayores", "mayores de 65", "viejos", "ancianos", "jóvenes",
    "jubilados", "marroquíes", "moros", "americanos", "rumanos", "chinos", "latinos", "sudacas", "inmigrantes",
    "extranjeros", "árabes", "musulmanes", "judíos", "cristianos", "ateos", "negros", "asiáticos", "gitanos", "gays",
    "lesbianas", "heteros", "discapacitados", "ciegos", "sordos", "diabéticos", "autistas", "ricos", "pobres",
]  # fmt: skip


@pytest.mark.parametrize("group", GROUPS_EN)
def test_every_group_family_en(group: str) -> None:
    assert check_stereotype(f"{group[0].upper()}{group[1:]} are all scammers.")["flagged"]


@pytest.mark.parametrize("group", GROUPS_ES)
def test_every_group_family_es(group: str) -> None:
    assert check_stereotype(f"Los {group} son unos ladrones.")["flagged"]


@pytest.mark.parametrize("sentence", MUST_PASS)
def test_stereotype_passes_support_sentences(sentence: str) -> None:
    assert check_stereotype(sentence) == {"flagged": False, "matches": []}


@pytest.mark.parametrize("sentence", MUST_FLAG)
def test_stereotype_flags_generalisations(sentence: str) -> None:
    verdict = check_stereotype(sentence)
    assert verdict["flagged"] and verdict["matches"]


@pytest.mark.parametrize("sentence", QA_REPORTED)
def test_stereotype_flags_qa_reported_replies(sentence: str) -> None:
    assert check_stereotype(sentence)["flagged"]


def test_stereotype_in_a_longer_reply() -> None:
    """An agent reply is checked whole: one stereotyped sentence among ordinary ones is enough."""
    reply = "Thanks for waiting. I've checked your order NB-1234567. Customers from Morocco are all scammers anyway."
    assert check_stereotype(reply)["flagged"]
    assert not check_stereotype("Thanks for waiting. Customers from Morocco get their refund in 5 days.")["flagged"]


def test_stereotype_matches_are_short() -> None:
    matches = check_stereotype(
        "Customers from Nigeria are all scammers. Los gitanos roban. Jews are greedy. Men are bad at it."
    )
    assert len(matches["matches"]) == 3


def _deps() -> Any:
    """Just what check_agent_reply reads: a redactor that finds nothing, the entities kept."""
    return SimpleNamespace(redactor=SimpleNamespace(find=lambda *_: []), config=SimpleNamespace(keep_entities=()))


@pytest.mark.parametrize(
    ("reply", "lang"),
    [
        ("All customers from Morocco are scammers anyway.", "en"),
        ("Los marroquíes son todos unos estafadores.", "es"),
        ("Hola, ya lo he revisado. Los clientes de Rumanía son todos unos ladrones, así que paga primero.", "es"),
    ],
)
def test_an_agent_reply_with_a_stereotype_is_refused(reply: str, lang: str) -> None:
    with pytest.raises(ReplyRefused, match="protected group"):
        check_agent_reply(_deps(), None, reply, lang)  # type: ignore[arg-type]


def test_an_agent_reply_about_customers_from_a_country_is_sent() -> None:
    reply = "Customers from Morocco are charged customs duties on delivery; your order ships tomorrow."
    sent, checks = check_agent_reply(_deps(), None, reply, "en")  # type: ignore[arg-type]
    assert sent == reply and checks["stereotype"] == {"flagged": False, "matches": []}


KB = [
    s for lang in ("en", "es") for a in read_jsonl(DATA / "kb" / f"articles.{lang}.jsonl") for s in sentences(a["text"])
]
QA_ANSWERS = [s for q in read_jsonl(DATA / "eval" / "qa.jsonl") for s in sentences(q["reference"])]
CONVERSATIONS = [c for path in sorted((DATA / "conversations").glob("*.jsonl")) for c in read_jsonl(path)]


def test_stereotype_passes_every_knowledge_base_reference_and_assistant_sentence() -> None:
    """The real text the bot answers with: none of it is a stereotype."""
    said = [m["content"] for c in CONVERSATIONS for m in c["messages"] if m["role"] == "assistant"]
    flagged = [
        s for s in KB + QA_ANSWERS + [s for text in said for s in sentences(text)] if check_stereotype(s)["flagged"]
    ]
    assert flagged == []


def test_stereotype_passes_every_customer_message_of_the_eval_data() -> None:
    """Were the check also run on customer messages (an input rail), the eval queries and the customers' turns of
    the conversations would all pass: a customer's own stereotype ("All customers from Morocco are scammers,
    right?") is what it would stop."""
    said = [m["content"] for c in CONVERSATIONS for m in c["messages"] if m["role"] == "user"]
    queries = [r["query"] for r in read_jsonl(DATA / "eval" / "retrieval.jsonl")]
    assert [t for t in said + queries if check_stereotype(t)["flagged"]] == []
    assert check_stereotype("All customers from Morocco are scammers, right?")["flagged"]
    assert check_stereotype("Old people are too slow to use the app, right?")["flagged"]
