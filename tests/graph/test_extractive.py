"""The extractive generator: which sentences answer, and what a picked sentence brings so that it stands alone."""

from __future__ import annotations

from graph.generators.base import GenerationRequest
from graph.generators.extractive import ExtractiveGenerator, select
from retrieval.text import sentence_items

DELIVERY = {
    "lang": "en",
    "title": "Delivery times by destination",
    "text": "How long your order takes depends on where it's going. These are the times for standard shipping:\n"
    "- Mainland Spain: 3-5 business days\n- Canary Islands: 7-10 business days\n- Portugal: 4-6 business days\n\n"
    "When does the clock start? Orders placed before 14:00 leave our warehouse the same day. For fees abroad, "
    "see International shipping and customs fees.",
}


def test_list_items_are_told_from_sentences() -> None:
    pieces = sentence_items(DELIVERY["text"])
    assert ("These are the times for standard shipping:", False) in pieces
    assert ("Canary Islands: 7-10 business days", True) in pieces
    # A list that chunking flattened into one line stays one piece, with every item's facts: split into its items,
    # the selector picked single items (benchmarks/conversations.py dev, fact recall 0.374 -> 0.353).
    flat = "Times: - Spain: 3-5 days - Portugal: 4-6 days"
    assert sentence_items(flat) == [(flat, False)]


def test_a_lead_in_brings_its_list_and_an_item_its_lead_in() -> None:
    picked = [s for _, _, s in select("what are the standard shipping times?", [DELIVERY], "en")]
    assert "These are the times for standard shipping:" in picked
    assert {"- Mainland Spain: 3-5 business days", "- Portugal: 4-6 business days"} <= set(picked)
    item = [s for _, _, s in select("canary islands business days", [DELIVERY], "en")]
    assert item[:2] == ["These are the times for standard shipping:", "- Canary Islands: 7-10 business days"]


def test_a_lead_in_whose_list_is_in_the_next_chunk_is_not_an_answer() -> None:
    # chunking put the list of return-policy-es in the next chunk: the lead-in alone was the whole answer
    passage = {
        "lang": "es",
        "title": "Política de devoluciones",
        "text": "Tienes 30 días desde la entrega para devolver la mayoría de los artículos.\n\n"
        "Hay algunos productos que no se pueden devolver:",
    }
    picked = [s for _, _, s in select("quiero devolver un producto", [passage], "es")]
    assert picked == ["Tienes 30 días desde la entrega para devolver la mayoría de los artículos."], picked


def test_a_question_brings_its_answer() -> None:
    picked = [s for _, _, s in select("when does the clock start?", [DELIVERY], "en")]
    assert picked == ["When does the clock start?", "Orders placed before 14:00 leave our warehouse the same day."]


def test_a_question_whose_answer_is_a_lead_in_brings_the_list_too() -> None:
    passage = {
        "lang": "es",
        "title": "Reembolsos",
        "text": "¿Y los gastos de envío? El coste del envío estándar original solo se reembolsa en dos casos:\n\n"
        "- Si devuelves el pedido completo en 14 días.\n- Si el artículo era defectuoso.",
    }
    picked = [s for _, _, s in select("¿y los gastos de envío?", [passage], "es")]
    assert picked[-2:] == ["- Si devuelves el pedido completo en 14 días.", "- Si el artículo era defectuoso."], picked


def test_a_question_answered_only_by_a_pointer_is_not_an_answer() -> None:
    times = {
        "lang": "es",
        "title": "Plazos de entrega",
        "text": "Con el envío estándar, estos son los tiempos habituales en días hábiles:\n\n"
        "- España peninsular: 3-5 días. - Canarias, Ceuta y Melilla: 7-10 días.",
    }
    options = {
        "lang": "es",
        "title": "Métodos y precios de envío",
        "text": "¿Envías a Baleares, Canarias o fuera de España? Consulta «Plazos de entrega» y «Envíos "
        "internacionales» para ver plazos y tarifas.",
    }
    picked = [s for _, _, s in select("¿cuánto tarda el envío a Canarias?", [times, options], "es")]
    assert any("7-10 días" in s for s in picked) and not any(s.startswith("¿Envías") for s in picked), picked


def test_a_pointer_to_another_article_is_not_an_answer() -> None:
    """The words of a referenced title ("International shipping and customs fees") do not make its sentence one."""
    picked = [s for _, _, s in select("customs for international shipping?", [DELIVERY], "en")]
    assert not any(s.startswith("For fees abroad") for s in picked)


def test_a_list_item_that_only_names_another_article_is_not_an_answer() -> None:
    """A "Related situations" list whose items restate a problem and name its article ("- The courier couldn't
    deliver: see I missed my delivery.") is a list of signposts: once chunking kept each item a line of its own,
    such an item matched the customer's words best and was the whole answer ("I wasn't home when the courier came"
    got "Related situations: - The courier couldn't deliver: see I missed my delivery."). An item with a reference
    in brackets keeps its own content and stays."""
    related = {
        "lang": "en",
        "title": "Track your order",
        "text": "Related situations:\n- The courier couldn't deliver: see I missed my delivery.\n- The tracking says "
        "delivered but you don't have the parcel: see Tracking says delivered but I don't have my package.",
    }
    missed = {
        "lang": "en",
        "title": "I missed my delivery",
        "text": "Don't worry if you weren't at home. The carrier tries to deliver twice, on consecutive business days.",
    }
    picked = [s for _, _, s in select("I wasn't home when the courier came, what happens now?", [related, missed],
                                      "en")]  # fmt: skip
    assert any("tries to deliver twice" in s for s in picked) and not any("see I missed" in s for s in picked)
    claim = {
        "lang": "en",
        "title": "Warranty claims",
        "text": "To make a claim, include:\n- your invoice (you can download it from My orders; see Download an "
        "invoice).\n- photos of the fault.",
    }
    picked = [s for _, _, s in select("what do I include with my warranty claim invoice?", [claim], "en")]
    assert any(s.startswith("- your invoice (you can download it") for s in picked), picked


def test_a_pointer_to_an_article_shown_above_is_followed_to_it() -> None:
    """A customer's "el paquete pone entregado pero no lo tengo" found the right article first and was answered with
    passage [4]'s "... consulta «El seguimiento dice entregado ...»"; a reference in brackets is an aside and stays."""
    lost = {
        "lang": "es",
        "title": "El seguimiento dice entregado pero no tengo el paquete",
        "text": "Si el seguimiento marca tu pedido como «Entregado» pero no lo tienes, espera 48 horas antes de "
        "reclamar. Mientras tanto, pregunta a tus vecinos.",
    }
    track = {
        "lang": "es",
        "title": "Seguir mi pedido",
        "text": "Puedes seguir tu pedido desde Mis pedidos. Y si el paquete se retrasa o el seguimiento dice que está "
        "entregado pero no lo tienes, consulta «El seguimiento dice entregado pero no tengo el paquete».",
    }
    question = "el paquete pone entregado pero no lo tengo"
    picked = select(question, [lost, track], "es")
    assert [n for n, _, _ in picked] == [1], picked
    assert picked[0][2].startswith("Si el seguimiento marca tu pedido"), picked
    # the same pointer to an article that is not shown, or shown below it, is the answer it was
    assert any("consulta «El seguimiento" in s for _, _, s in select(question, [track], "es"))
    aside = dict(track, text=track["text"].replace("consulta «", "(consulta «").replace("».", "»)."))
    assert any(n == 2 for n, _, _ in select(question, [lost, aside], "es"))


def test_items_are_lines_of_a_list_of_their_own() -> None:
    # items ran on in one paragraph ("Include in your message: what is wrong on the invoice. the correct details."):
    # each is a line with its mark, and the list a paragraph of its own, which a chat renders as a list
    text = "Include in your message:\n- what is wrong on the invoice;\n- the correct details.\n\nWe reply in a day."
    request = GenerationRequest(
        question="what to include in my message, when do you reply", passages=[{"lang": "en", "text": text}], lang="en"
    )
    answer = ExtractiveGenerator().generate(request).answer
    assert answer == (
        "Include in your message:\n\n- what is wrong on the invoice.\n- the correct details.\n\nWe reply in a day. [1]"
    ), answer


def test_a_table_row_brings_its_table_as_a_markdown_table() -> None:
    """A price table's rows (lines of a chunk, " | " between cells): one row was the answer, and the wrong one,
    "Total Plus | 44,90 € | Todo lo del plan Total ..." for "¿cuánto cuesta el plan Total?" (it names the plan twice;
    QA pass as a gym chain's operator, 2026-12-07). A row brings its table, composed as a Markdown table (header,
    rows, the citation in the last cell), so a chat shows every plan with its price."""
    text = (
        "Tienes tres planes.\n\nPlan | Cuota\nBásico | 24,90 €\nTotal | 34,90 € al mes\n"
        "Total Plus | 44,90 €, todo lo del plan Total y más centros\n\nLa matrícula cuesta 20 €."
    )
    request = GenerationRequest(
        question="¿cuánto cuesta el plan Total?", passages=[{"lang": "es", "text": text}], lang="es"
    )
    answer = ExtractiveGenerator().generate(request).answer
    table = (
        "| Plan | Cuota |\n|---|---|\n| Básico | 24,90 € |\n| Total | 34,90 € al mes |\n"
        "| Total Plus | 44,90 €, todo lo del plan Total y más centros |"
    )
    assert answer.startswith(table), answer
    assert answer.endswith("[1]") and answer.count("[1]") == 1
    # a table longer than a header and MAX_ITEMS rows: its header and the row picked
    rows = "\n".join(f"Centro {i} | Calle {i}, {i} | de 6:00 a 23:00" for i in range(20))
    long = [{"lang": "es", "text": f"Centros | Dirección | Horario\n{rows}"}]
    picked = [s for _, _, s in select("¿dónde está el centro 12?", long, "es")]
    assert picked == ["Centros | Dirección | Horario", "Centro 12 | Calle 12, 12 | de 6:00 a 23:00"]


def test_a_better_article_in_another_language_is_not_passed_over_for_a_worse_one_in_the_customers() -> None:
    """Retrieval puts an article's linked translation first, so a top passage in English for a Spanish question has
    none: a Spanish passage below it is answered from only when it says the same (an unlinked translation, by the
    chunks' USE cosine), not when it is another article (a mobile operator's partly translated help centre)."""
    import numpy as np

    from retrieval.multilingual import encode

    lost = {
        "chunk_id": "lost#0",
        "lang": "en",
        "title": "Lost or stolen phone",
        "text": "If your phone is lost or stolen, call 1414 to block your line. We send you a new SIM for free.",
    }
    returns = {
        "chunk_id": "returns#0",
        "lang": "es",
        "title": "Devolver un móvil",
        "text": "Si compraste un móvil puedes devolverlo en 14 días. El móvil debe estar en su caja original.",
    }
    hours = {
        "chunk_id": "hours#0",
        "lang": "en",
        "title": "Shop opening hours",
        "text": "Our shops open Monday to Saturday from 10:00 to 21:00. Shops in shopping centres also open "
        "on Sundays from 11:00 to 20:00.",
    }
    horario = {"chunk_id": "horario#0", "lang": "es", "title": "Horario de las tiendas",
               "text": "Nuestras tiendas abren de lunes a sábado de 10:00 a 21:00. Las tiendas en centros "
                       "comerciales abren también los domingos de 11:00 a 20:00."}  # fmt: skip
    passages = [lost, returns, hours, horario]
    vectors = dict(zip([p["chunk_id"] for p in passages], encode([p["text"] for p in passages]), strict=True))

    def cosine(a: str, b: str) -> float:
        return float(np.dot(vectors[a], vectors[b]))

    assert cosine("lost#0", "returns#0") < 0.75 <= cosine("hours#0", "horario#0")
    stolen = ExtractiveGenerator(same_content=cosine).generate(
        GenerationRequest("me han robado el móvil, ¿qué hago?", "es", passages=[lost, returns])
    )
    assert "1414" in stolen.answer and stolen.citations == [1], stolen.answer
    # with nothing to compare the chunks by, the better article too
    assert ExtractiveGenerator().generate(GenerationRequest("me han robado el móvil", "es", passages=[lost, returns])
                                          ).citations == [1]  # fmt: skip
    opening = ExtractiveGenerator(same_content=cosine).generate(
        GenerationRequest("¿a qué hora abren las tiendas los domingos?", "es", passages=[hours, horario])
    )
    assert "domingos" in opening.answer and opening.citations == [2], opening.answer
    # the top passage in the customer's language: as before, only passages in it
    assert select("¿puedo devolver el móvil?", [returns, lost], "es") == [
        (1, 0, returns["text"].split(". ")[0] + "."), (1, 1, "El móvil debe estar en su caja original.")]  # fmt: skip


def test_a_chunk_that_opens_with_its_title_does_not_answer_with_it() -> None:
    """A Markdown article's "# Title" line opens its first chunk: short and full of the question's words, it was
    picked as the answer ("Roaming in the European Union. [1] Activate an eSIM. [2]")."""
    roaming = {"chunk_id": "roaming#0", "lang": "en", "title": "Roaming in the European Union",
               "text": "Roaming in the European Union\n\nWith any plan you can use your data in every EU country at no "
                       "extra cost. To turn roaming on, open the app, go to Settings > Roaming and switch on "
                       "\"Use my plan abroad\"."}  # fmt: skip
    esim = {"chunk_id": "esim#0", "lang": "en", "title": "Activate an eSIM",
            "text": "# Activate an eSIM\n\nAsk for it in the app under My lines > SIM. We send a QR code."}  # fmt: skip
    answer = (
        ExtractiveGenerator()
        .generate(GenerationRequest("How do I activate roaming in Portugal?", "en", passages=[roaming, esim]))
        .answer
    )
    assert "Settings > Roaming" in answer and "Roaming in the European Union" not in answer, answer
    assert "Activate an eSIM" not in answer, answer


def test_an_article_tagged_spanish_quoted_in_english_is_not_said_to_be_spanish() -> None:
    mixed = {
        "lang": "es",
        "title": "Envíos / Shipping",
        "chunk_id": "mixed-es#0",
        "text": "We ship to every country in the European Union. Standard delivery takes 5 to 8 working days.",
    }
    spanish = {**mixed, "text": "Enviamos a todos los países de la Unión Europea. La entrega tarda de 5 a 8 días."}
    generator = ExtractiveGenerator()
    question = "do you ship to the European Union?"
    assert generator.source_language(GenerationRequest(question, "en", [mixed])) == "en"
    assert generator.source_language(GenerationRequest(question, "en", [spanish])) == "es"


# how-to-return-en as chunking stores it (a paragraph's lines joined by spaces)
RETURN_STEPS = {
    "lang": "en",
    "title": "How to return an item",
    "text": "You can start a return from your account in a couple of minutes: go to My orders > Return items, select "
    "the items you want to send back and choose a reason.\n\nStep by step: 1. Open My orders > Return items and "
    "choose the order. 2. Select the item or items and a return reason. 3. Choose how you want to send them: at a "
    "pickup point or by home collection. 4. Pack the items and drop off the parcel, or hand it to the courier, "
    "within 14 days of creating the return.\n\nIf you choose a pickup point, you'll get a QR code to show there.",
}


def test_numbered_steps_are_list_items_with_their_continuation() -> None:
    text = "Para registrarte:\n1) Abre la app.\n2) Escribe tu email. Debe ser válido.\na) Opción uno."
    assert sentence_items(text) == [
        ("Para registrarte:", False), ("Abre la app.", True), ("Escribe tu email. Debe ser válido.", True),
        ("Opción uno.", True),
    ]  # fmt: skip


def test_a_how_do_i_question_gets_every_step_in_order() -> None:
    """A step of a procedure brings its lead-in and the other steps: "How do I return an item?" was answered with
    steps 2 and 3 of 4."""
    request = GenerationRequest(question="How do I return an item?", passages=[RETURN_STEPS], lang="en")
    answer = ExtractiveGenerator().generate(request).answer
    steps = [answer.find(f"{n}. ") for n in (1, 2, 3, 4)]
    assert -1 not in steps and steps == sorted(steps), answer
    assert "Step by step:\n\n1. Open My orders > Return items and choose the order.\n2. Select" in answer, answer
    spanish = {
        "lang": "es",
        "title": "Cambiar la contraseña",
        "text": "Puedes cambiarla desde tu cuenta. Para cambiarla: 1) Entra en Mi cuenta > Seguridad. 2) Pulsa "
        "Cambiar contraseña y escribe la actual. 3) Escribe la nueva dos veces. 4) Pulsa Guardar.",
    }
    request = GenerationRequest(question="¿Cómo cambio la contraseña?", passages=[spanish], lang="es")
    answer = ExtractiveGenerator().generate(request).answer
    steps = [answer.find(f"{n}) ") for n in (1, 2, 3, 4)]
    assert -1 not in steps and steps == sorted(steps) and "Para cambiarla:\n\n1) Entra" in answer, answer


def test_a_follow_up_is_not_quoted_what_the_conversation_already_said() -> None:
    """A follow-up is searched with the topic before it, so the selector picks the earlier answer's sentences again
    ("How much does it cost?" after a returns question was quoted all four return steps before the fee)."""
    generator = ExtractiveGenerator()
    first = generator.generate(GenerationRequest("what are the standard shipping times?", "en", [DELIVERY])).answer
    assert "Mainland Spain: 3-5 business days" in first
    history = [{"role": "user", "content": "what are the standard shipping times?"},
               {"role": "assistant", "content": first}]  # fmt: skip
    question = "standard shipping times, and when does the clock start?"
    alone = generator.generate(GenerationRequest(question, "en", [DELIVERY])).answer
    later = generator.generate(GenerationRequest(question, "en", [DELIVERY], history=history)).answer
    assert "Mainland Spain" in alone and "14:00" in alone  # without the conversation: both
    assert "14:00" in later and "Mainland Spain" not in later  # with it: only what is new
    again = generator.generate(GenerationRequest("what are the standard shipping times?", "en", [DELIVERY],
                                                 history=history)).answer  # fmt: skip
    assert again == first  # asked again: nothing new to say, so the same answer


def test_a_sentence_that_only_says_the_problem_back_brings_what_to_do() -> None:
    """ "my parcel arrived damaged" was answered "We're sorry your order arrived damaged. [1]" and a sentence of the
    missing-items article (it has "parcel"): the damaged-item article's next sentence, what to do, was left out
    because it adds no word of the question."""
    damaged = {
        "lang": "en",
        "title": "My item arrived damaged",
        "text": "We're sorry your order arrived damaged. Report it within 48 hours of delivery and we'll put it right "
        "at no cost to you: you can choose a free replacement or a full refund.\n\nPlease keep the packaging.",
    }
    missing = {
        "lang": "en",
        "title": "Items missing from my package",
        "text": "If your parcel arrived without everything you ordered, check your shipping email first.",
    }
    picked = [s for _, _, s in select("my parcel arrived damaged", [damaged, missing], "en")]
    assert picked[0] == "We're sorry your order arrived damaged."
    assert picked[1].startswith("Report it within 48 hours"), picked
    assert "Please keep the packaging." not in picked  # only the sentence after the echo
