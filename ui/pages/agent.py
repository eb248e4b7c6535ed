"""Agent console: knowledge-base search and article view, escalation queue, knowledge gaps."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from ui import state
from ui.backend import Backend, BackendError, BackendUnavailable

SERVICE_DOWN = "The support service is unavailable right now; the console will work again once it is back."
LANG_FILTER = {"Any language": None, "Español": "es", "English": "en"}


def _search_tab(backend: Backend) -> None:
    query = st.text_input("Search the knowledge base", key="kb_query", placeholder="e.g. reembolso / refund")
    col_lang, col_tags, col_k = st.columns([1, 2, 1])
    lang = LANG_FILTER[col_lang.selectbox("Language", list(LANG_FILTER), key="kb_lang")]
    known_tags = backend.tags()
    if known_tags:
        tags = col_tags.multiselect("Tags", known_tags, key="kb_tags")
    else:  # the API does not list tags: type them
        typed = col_tags.text_input("Tags (comma-separated)", key="kb_tags_text")
        tags = [tag.strip() for tag in typed.split(",") if tag.strip()]
    k = int(col_k.number_input("Results", min_value=1, max_value=50, value=10, key="kb_k"))
    if not query.strip():
        st.caption("Type a question or keywords; Spanish and English articles are searched together.")
        return
    results = backend.search(query, k=k, lang=lang, tags=tags or None)
    if not results:
        st.info("No article matches these filters.")
        return
    st.caption(f"{len(results)} articles")
    for rank, result in enumerate(results, start=1):
        tag_text = ", ".join(result.get("tags") or []) or "no tags"
        st.markdown(
            f"{rank}. **{result.get('title', '')}** · `{result['doc_id']}` · {result.get('lang', '')} · "
            f"score {float(result.get('score', 0.0)):.3f} · {tag_text}"
        )
        st.caption(str(result.get("text", ""))[:240])
    doc_id = st.selectbox("Open article", [r["doc_id"] for r in results], key="kb_article", format_func=lambda d: d)
    if doc_id:
        _article(backend, doc_id)


def _article(backend: Backend, doc_id: str) -> None:
    document = backend.document(doc_id)
    if document is None:
        st.warning(f"Article {doc_id} is no longer in the knowledge base.")
        return
    with st.container(border=True):
        st.subheader(document.get("title") or doc_id)
        details = [f"id `{doc_id}`", f"language {document.get('lang') or '?'}"]
        if document.get("tags"):
            details.append("tags " + ", ".join(document["tags"]))
        if document.get("updated"):
            details.append(f"updated {document['updated']}")
        if document.get("translation_of"):
            details.append(f"translation of `{document['translation_of']}`")
        st.caption(" · ".join(details))
        if document.get("url"):
            st.markdown(f"[{document['url']}]({document['url']})")
        st.markdown(document.get("text", ""))


def _transcript(record: dict[str, Any]) -> list[dict[str, Any]]:
    transcript = record.get("transcript") or []
    if isinstance(transcript, str):  # a store may keep it as one text block
        return [{"role": "transcript", "content": transcript}]
    return [turn for turn in transcript if isinstance(turn, dict)]


def _when(value: Any) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM UTC``; any other value as it is."""
    if isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(value))
    return str(value or "")


def _escalations_tab(backend: Backend) -> None:
    rows = backend.escalations()
    if not rows:
        st.info("No escalations: no customer has asked for a person yet.")
        return
    st.caption(f"{len(rows)} escalations, newest first. Transcripts are redacted (PII replaced by placeholders).")
    for record in rows:
        label = " · ".join(
            str(part)
            for part in (
                f"#{str(record.get('id', '?'))[:8]}",
                _when(record.get("created_at") or record.get("created")),
                record.get("lang") or "",
                record.get("reason") or "",
                record.get("status") or "",
            )
            if part
        )
        with st.expander(label):
            st.caption(f"session `{record.get('session_id', '?')}`")
            turns = _transcript(record)
            if not turns:
                st.write("(empty transcript)")
            for turn in turns:
                role = "user" if turn.get("role") == "user" else "assistant"
                with st.chat_message(role):
                    st.markdown(str(turn.get("content", "")))


def _gaps_tab(backend: Backend) -> None:
    rows = backend.knowledge_gaps()
    if not rows:
        st.info("No knowledge gaps recorded: every question so far found an answer.")
        return
    st.caption("Questions the bot could not answer, most frequent first: candidates for new articles.")
    table = [
        {
            "count": int(row.get("count", 0)),
            "question": row.get("question", ""),
            "lang": row.get("lang", ""),
            "last_seen": row.get("last_seen", ""),
        }
        for row in rows
    ]
    st.dataframe(table, hide_index=True, width="stretch")


def main() -> None:
    """Render the agent console."""
    backend = state.backend()
    st.title("Agent console")
    tabs = st.tabs(["Knowledge base", "Escalations", "Knowledge gaps"])
    sections = [_search_tab, _escalations_tab, _gaps_tab]
    for tab, section in zip(tabs, sections, strict=True):
        with tab:
            try:
                section(backend)
            except BackendUnavailable as exc:
                st.error(SERVICE_DOWN)
                st.caption(str(exc))
            except BackendError as exc:
                st.error(f"The service refused the request: {exc}")


main()
