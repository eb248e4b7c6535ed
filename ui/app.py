"""Entry script of the Streamlit app (``supportbot ui``): customer chat for everyone; agent console and evaluation
dashboard only after an agent or admin signs in (the sign-in lives in the server-side session state)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import state

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Register the pages this visitor may see and run the selected one."""
    st.set_page_config(page_title="supportbot", page_icon="💬", layout="wide")
    pages = [st.Page(HERE / "pages" / "chat.py", title="Customer chat", icon=":material/chat:", default=True)]
    signed_in = state.staff() is not None
    # Signed out, /agent is the sign-in form (the console page shows it); the dashboard is listed after sign-in.
    pages.append(st.Page(HERE / "pages" / "agent.py", title="Agent console" if signed_in else "Staff sign-in",
                         icon=":material/support_agent:", url_path="agent"))  # fmt: skip
    if signed_in:
        pages.append(st.Page(HERE / "pages" / "evaluation.py", title="Evaluation", icon=":material/analytics:",
                             url_path="evaluation"))  # fmt: skip
    st.navigation(pages).run()


main()
