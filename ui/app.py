"""Entry script of the Streamlit app (``supportbot ui``): customer chat for everyone; agent console and evaluation
dashboard only after an agent or admin signs in (the sign-in lives in the server-side session state)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import state
from ui.i18n import t

HERE = Path(__file__).resolve().parent
# The pages live in views/, not pages/: Streamlit takes a pages/ folder beside the entry script for its older
# multipage mode until a run calls st.navigation, and a server whose first visitor opened /agent ran that page
# alone and stayed in that mode for everyone (the sidebar listed app, agent, chat, evaluation; / lost its chat).


def main() -> None:
    """Register the pages this visitor may see and run the selected one."""
    # the browser tab names the deployment's company when SUPPORTBOT_COMPANY is set (a workshop's customers read
    # "supportbot" on it: a QA pass as a bicycle workshop's operator, 2026-12-08)
    st.set_page_config(page_title=state.config().company or "supportbot", page_icon="💬", layout="wide")
    signed_in = state.staff() is not None
    lang = "en" if signed_in else state.page_lang()  # a visitor reads the chat's language; the console is English
    pages = [st.Page(HERE / "views" / "chat.py", title=t("nav_chat", lang), icon=":material/chat:", default=True)]
    # Signed out, /agent is the sign-in form (the console page shows it); the dashboard is listed after sign-in.
    pages.append(st.Page(HERE / "views" / "agent.py", title="Agent console" if signed_in else t("nav_signin", lang),
                         icon=":material/support_agent:", url_path="agent"))  # fmt: skip
    if signed_in:
        pages.append(st.Page(HERE / "views" / "evaluation.py", title="Evaluation", icon=":material/analytics:",
                             url_path="evaluation"))  # fmt: skip
    st.navigation(pages).run()


main()
