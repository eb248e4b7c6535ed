"""Conversational acts, learned (graph.rails.acts): requests for a person and small talk in words the rules do not
list are routed as such; questions, however they open, stay questions. The sentences here were written for these
tests, not taken from data/dialogue or the benchmarks' sets."""

from __future__ import annotations

import numpy as np
import pytest

from graph.nodes.guard_input import check_input
from graph.rails.acts import ACTS, closing_blocked, escalation, shipped_acts, small_talk, thanks_word
from graph.rails.fit import threshold_within
from graph.rails.fit_acts import written, written_paths
from graph.service import ChatService

# measured with the shipped model (benchmarks/acts.py, 2026-12-07, refitted with train_4, questions about the
# assistant acted on): on dev.jsonl hand-off 0.791, small talk 0.756, questions taken for an act 0.046 (6 of 130); on
# dev_2.jsonl (short messages) 1.000, 1.000 and 0.031 (4 of 130; 0.115 before train_4 and the negation gate: "arrived
# damaged" got "You're welcome!").
FLOORS = {"dev.jsonl": (0.65, 0.55, 0.06), "dev_2.jsonl": (0.85, 0.85, 0.06)}  # hand-off, small talk, none ceiling


@pytest.mark.parametrize(
    "text",
    [
        "can a human look at it",
        "is there a real person who can check this for me",
        "could somebody from your staff go over my case",
        "¿me puede atender alguien, por favor?",
        "necesito que alguien de vuestro equipo revise lo de mi pedido",
        "¿hay alguna persona que me pueda ayudar con esto?",
    ],
)
def test_a_request_for_a_person_in_other_words_is_a_hand_off(text: str) -> None:
    verdict = escalation(text)
    assert verdict["handoff"] and verdict["reason"] == "customer_request", (text, shipped_acts().read(text))


@pytest.mark.parametrize(
    "text",
    [
        "alright, I'll keep an eye on the tracking then",
        "ok that worked, cheers",
        "vale, pues espero a mañana a ver si llega",
        "ah vale, ya lo he encontrado, gracias",
    ],
)
def test_a_closing_in_other_words_is_small_talk(text: str) -> None:
    talk = small_talk(text)
    assert talk is not None and talk["kind"] in ("thanks", "goodbye"), (text, shipped_acts().read(text))


@pytest.mark.parametrize(
    "text",
    [
        "ok, and how much is shipping to the Canaries?",
        "gracias, ¿y cuánto tarda el reembolso?",
        "how do I contact customer service?",
        "the agent said I'd get a refund, when will it arrive?",
        "vale, pero el paquete sigue sin llegar",
        "thanks but my parcel never arrived",
        "¿tenéis teléfono de atención al cliente?",
        "my order number is NB-1234567",
    ],
)
def test_a_question_stays_a_question(text: str) -> None:
    assert not escalation(text)["handoff"] and small_talk(text) is None, (text, shipped_acts().read(text))


def test_a_short_request_for_a_thing_is_not_a_hand_off() -> None:
    """The model took "necesito una factura" for a request for a person by its "necesito un ..." ("necesito un
    agente"); the same opening with a person stays one."""
    for text in ("necesito una factura", "necesito un recibo", "I want a transfer"):
        assert not escalation(text)["handoff"], (text, shipped_acts().read(text))
    for text in ("necesito un asesor ya", "i need someone please", "quiero a alguien del equipo"):
        assert escalation(text)["handoff"], (text, shipped_acts().read(text))


def test_the_rules_stay_first() -> None:
    """A message the rules know keeps their verdict (and its language); the model is not asked."""
    assert small_talk("hola") == {"kind": "greeting", "lang": "es"}
    assert escalation("I want to talk to a real person")["matches"]


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_dev_split_floors(name: str) -> None:
    """On each data/dialogue/dev*.jsonl (never fitted on): floors on what rules + model route right, per group."""
    [path] = [p for p in written_paths("dev") if p.name == name]
    rows = written("dev", [path])
    reads = shipped_acts().read_many([t for t, _, _ in rows])
    hand, talk, none = [], [], []
    for (text, act, _), read in zip(rows, reads, strict=True):
        handed, talked = escalation(text, read)["handoff"], small_talk(text, read) is not None
        if act in ("handoff", "legal"):
            hand.append(handed)
        elif act == "none":
            none.append(handed or talked)
        else:
            talk.append(talked)
    handoff_floor, small_talk_floor, none_ceiling = FLOORS[name]
    assert np.mean(hand) >= handoff_floor and np.mean(talk) >= small_talk_floor
    assert np.mean(none) <= none_ceiling


def test_every_dev_file_has_floors() -> None:
    assert {p.name for p in written_paths("dev")} == set(FLOORS)


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("hmm not really", True),
        ("ok still nothing", True),
        ("todavía nada", True),
        ("no funcionó", True),
        ("didn’t work", True),
        ("thanks but that didn't help", True),
        ("vale, ¿y el reembolso?", True),
        ("nothing else, take care", False),
        ("pues nada, lo dejo así", False),
        ("never mind, found it", False),
        ("oh ok, didn't know that. thanks", False),
        ("nope that's all, bye", False),
        ("arrived damaged", False),
    ],
)
def test_a_closing_is_not_acted_on_when_it_objects(text: str, blocked: bool) -> None:
    """A negation or "still" reports a problem unless the message thanks or says goodbye, or it is a closing
    idiom; a question mark or a "but" always does."""
    assert closing_blocked(text) is blocked


def test_short_problem_reports_are_not_small_talk() -> None:
    """Written for this test: short reports the first model answered with "You're welcome!" or "Bye!" by length."""
    for text in ["arrived damaged", "llegó roto", "the box was open", "still nothing", "todavía nada"]:
        assert small_talk(text) is None, text
    for text in ["thanks heaps", "thanks for helping me", "ya lo he recibido, gracias"]:
        assert small_talk(text) is not None, text


def test_questions_about_the_assistant_get_its_reply(service: ChatService) -> None:
    """Written for this test: questions about the assistant in words the rules do not list got an unrelated article
    (the cookies policy, a damaged-item sentence) or the out-of-scope redirect."""
    questions = ["which kinds of things can you sort out for me?", "oye, ¿eres un programa o una persona?"]
    for i, text in enumerate(questions):
        result = service.chat(text, session_id=f"acts-identity-{i}")
        assert result["route"] == "smalltalk" and result["reason"] == "identity", (text, result["answer"])
        assert not result["sources"]


def test_a_question_on_how_to_reach_the_business_is_not_about_the_assistant(service: ChatService) -> None:
    """ "how can I contact you?" was read as a question about the assistant (identity 0.87) and answered with what
    it is; the contact article answers it."""
    for i, text in enumerate(["how can I contact you?", "¿me dais un teléfono de contacto?"]):
        assert small_talk(text) is None, text
        result = service.chat(text, session_id=f"acts-contact-{i}")
        assert result["route"] == "answered" and "contact-customer-service" in result["sources"][0]["doc_id"], text
    assert small_talk("are you a bot?") is not None


def test_thanks_word() -> None:
    assert thanks_word("graciaaas 😍") and thanks_word("Thanks!!") and thanks_word("te lo agradezco")
    assert not thanks_word("arrived damaged") and not thanks_word("no worries")


def test_threshold_within_each_budget() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.95, 0.6, 0.7])
    real = np.array([True, True, True, False, False, False, False])
    hard = np.array([False, False, False, False, False, True, True])
    assert threshold_within(scores, [(real, 0.0), (hard, 0.5)], 0.5) == pytest.approx(0.6501, abs=1e-3)
    assert threshold_within(scores, [(real, 0.0)], 0.5) == 0.5


def test_the_graph_routes_them(service: ChatService) -> None:
    handed = service.chat("can a human look at it", session_id="acts-1")
    assert handed["route"] == "handoff" and handed["reason"] == "customer_request"
    closed = service.chat("vale, pues espero a mañana a ver si llega", session_id="acts-2")
    assert closed["route"] == "smalltalk" and closed["lang"] == "es" and closed["answer"].startswith("¡De nada!")
    asked = service.chat("gracias, ¿y cuánto tarda el reembolso?", session_id="acts-3")
    assert asked["route"] == "answered"
    assert check_input("can a human look at it")["act"]["act"] == "handoff"
    assert set(ACTS) >= set(check_input("hola")["act"]["scores"])
