"""Entry script of the Streamlit app (``supportbot ui``): customer chat, agent console, evaluation dashboard."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Register the three pages and run the selected one."""
    st.set_page_config(page_title="supportbot", page_icon="💬", layout="wide")
    pages = [
        st.Page(HERE / "pages" / "chat.py", title="Customer chat", icon=":material/chat:", default=True),
        st.Page(HERE / "pages" / "agent.py", title="Agent console", icon=":material/support_agent:", url_path="agent"),
        st.Page(
            HERE / "pages" / "evaluation.py", title="Evaluation", icon=":material/analytics:", url_path="evaluation"
        ),
    ]
    st.navigation(pages).run()


main()
