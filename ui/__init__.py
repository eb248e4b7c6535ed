"""Streamlit app: customer chat, agent knowledge-base console and evaluation dashboard."""
