"""AppTest runs of every page: the real agent in-process on the bundled index, and the API backend when it is down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from retrieval.language import detect_language
from tests.ui.conftest import APP, SPANISH_QUESTION, free_port

TIMEOUT = 120  # the first run loads the graph, the index and the embedder


def open_page(page: str | None = None) -> AppTest:
    """Run the app (optionally switched to ``pages/<page>.py``)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def assistant_texts(at: AppTest) -> list[str]:
    return [m.markdown[0].value for m in at.chat_message if m.name == "assistant"]


# --- customer chat -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_chat_answers_in_the_customers_language_with_sources(inprocess_env: Path) -> None:
    at = open_page()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    [answer] = assistant_texts(at)
    assert detect_language(answer) == "es", answer
    # The page followed the customer into Spanish: its own labels are Spanish now.
    assert at.title[0].value == "Asistente de soporte"
    [sources] = [e for e in at.expander if e.label.startswith("Fuentes")]
    links = " ".join(m.value for m in sources.markdown)
    assert "https://nimbus.example/" in links and "(es" not in links
    assert any(c.value == "Idioma detectado: Español" for c in at.caption)


@pytest.mark.slow
def test_manual_language_override_wins(inprocess_env: Path) -> None:
    at = open_page()
    at.sidebar.selectbox(key="lang_choice").set_value("English").run()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    [answer] = assistant_texts(at)
    assert detect_language(answer) == "en", answer
    assert at.title[0].value == "Support assistant"


@pytest.mark.slow
def test_thumbs_are_stored_as_feedback(inprocess_env: Path) -> None:
    from graph.store import SupportStore

    at = open_page()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    session_id = at.session_state["session_id"]
    at.feedback[0].set_value(0).run()  # thumbs down
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.value == "¡Gracias por tu valoración!" for c in at.caption)
    rows = [r for r in SupportStore(inprocess_env / "support.sqlite").feedback() if r["session_id"] == session_id]
    assert [(int(r["turn"]), r["rating"]) for r in rows] == [(0, "down")]


@pytest.mark.slow
def test_talk_to_a_person_lands_in_the_escalation_queue(inprocess_env: Path) -> None:
    at = open_page()
    at.chat_input[0].set_value(SPANISH_QUESTION).run()
    session_id = at.session_state["session_id"]
    at.sidebar.button[0].click().run()  # "Hablar con una persona"
    assert not at.exception, [e.value for e in at.exception]
    assert at.success and "Una persona te responderá" in at.success[0].value

    console = open_page("agent")
    queue = [e for e in console.expander if f"session `{session_id}`" in " ".join(c.value for c in e.caption)]
    assert len(queue) == 1, [e.label for e in console.expander]
    transcript = " ".join(m.markdown[0].value for m in queue[0].chat_message)
    assert SPANISH_QUESTION in transcript


# --- agent console -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_agent_search_filters_by_language_and_tag_and_opens_the_article(inprocess_env: Path) -> None:
    at = open_page("agent")
    at.text_input(key="kb_query").set_value("reembolso").run()
    at.selectbox(key="kb_lang").set_value("Español").run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [m.value for m in at.markdown if m.value[:2].rstrip(".").isdigit()]
    assert lines and all(" · es · " in line for line in lines), lines
    tag = "refunds" if "refunds" in at.multiselect(key="kb_tags").options else at.multiselect(key="kb_tags").options[0]
    at.multiselect(key="kb_tags").set_value([tag]).run()
    tagged = [m.value for m in at.markdown if m.value[:2].rstrip(".").isdigit()]
    assert tagged and all(tag in line for line in tagged), tagged
    article = at.selectbox(key="kb_article").value
    assert at.subheader and any(f"id `{article}`" in c.value for c in at.caption)


@pytest.mark.slow
def test_knowledge_gaps_are_ranked_by_frequency(inprocess_env: Path) -> None:
    from graph.store import SupportStore

    store = SupportStore(inprocess_env / "support.sqlite")
    for question, times in (("¿Vendéis tarjetas regalo de papel?", 1), ("Do you ship to Mars?", 3)):
        for _ in range(times):
            store.record_gap(question, "es" if question.startswith("¿") else "en")
    at = open_page("agent")
    [table] = at.dataframe
    frame = table.value
    assert list(frame["count"]) == sorted(frame["count"], reverse=True)
    questions = list(frame["question"])
    assert questions.index("Do you ship to Mars?") < questions.index("¿Vendéis tarjetas regalo de papel?")


# --- evaluation page ---------------------------------------------------------------------------------------------


def test_evaluation_page_without_a_run_says_how_to_make_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    monkeypatch.delenv("SUPPORTBOT_EVAL_DIR", raising=False)
    at = open_page("evaluation")
    assert "No evaluation yet" in at.info[0].value
    assert "supportbot eval compare" in at.code[0].value


def test_evaluation_page_shows_the_latest_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = tmp_path / "runs" / "eval-2025"
    (run / "plots").mkdir(parents=True)
    metrics = {"kpis": {"answer_accuracy": {m: {"es": {"value": v, "low": v - 0.1, "high": v + 0.1, "n": 30}}
                                            for m, v in (("rag", 0.8), ("hybrid", 0.7))}}}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run / "report.md").write_text("# Mode comparison\n\nrag wins on accuracy.\n", encoding="utf-8")
    figure, axis = plt.subplots()
    axis.bar(["rag", "hybrid"], [0.8, 0.7])
    figure.savefig(run / "plots" / "accuracy.png")
    plt.close(figure)
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    at = open_page("evaluation")
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["", "rag / es", "hybrid / es"]
    assert frame.iloc[0].tolist() == ["answer_accuracy", "0.800 [0.700, 0.900]", "0.700 [0.600, 0.800]"]
    assert len(at.image) == 1
    assert any("rag wins on accuracy" in m.value for m in at.markdown)


# --- service down ------------------------------------------------------------------------------------------------


def test_pages_say_clearly_when_the_api_is_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path))
    monkeypatch.setenv("SUPPORTBOT_API_URL", f"http://127.0.0.1:{free_port()}")
    at = open_page()
    assert "support service is unavailable" in at.error[0].value
    assert at.chat_input[0].disabled
    assert at.sidebar.button[0].disabled  # no handoff to a service that is down

    console = open_page("agent")
    assert console.error and "unavailable" in console.error[0].value
