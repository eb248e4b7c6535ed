"""Streamlit page scripts (registered by ui/app.py with st.navigation)."""
