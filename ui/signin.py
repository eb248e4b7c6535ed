"""Staff sign-in, shown by the staff pages to a visitor who is not signed in: an agent or admin API key, or a
console user's name and password (scrypt hash in the key database). The result stays in Streamlit's server-side
session state; a customer key opens nothing here."""

from __future__ import annotations

import streamlit as st

from ui.protocol import Backend, BackendError, BackendUnavailable


def form(backend: Backend) -> None:
    """Render the sign-in form, checked by ``backend``; a successful sign-in reruns the app with the staff pages."""
    st.title("Staff sign-in", anchor=False)  # no "Link to heading" tab stop before the form
    st.caption("The agent console and the evaluation dashboard are for support staff.")
    if st.session_state.get("signin_notice"):  # why the console asks again (its key was revoked)
        st.warning(st.session_state.pop("signin_notice"))
    with st.form("signin"):
        username = st.text_input("User", key="signin_user")
        password = st.text_input("Password", type="password", key="signin_password")
        api_key = st.text_input("…or an agent / admin API key", type="password", key="signin_key")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    if not api_key.strip() and not (username.strip() and password):
        st.error("Enter a user and a password, or an API key.")
        return
    try:
        who = backend.sign_in(api_key=api_key.strip() or None, username=username.strip() or None,
                                      password=password or None)  # fmt: skip
    except BackendUnavailable as exc:
        st.error(f"The support service is unavailable right now: {exc}")
        return
    except BackendError as exc:
        st.error(f"Sign-in refused: {exc}")
        return
    st.session_state["staff"] = who
    st.rerun()
