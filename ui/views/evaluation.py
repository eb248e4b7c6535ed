"""Evaluation dashboard (sign-in required): the ``supportbot eval compare`` runs under the data home, newest first;
the visitor picks one of them, never a server folder of their own."""

from __future__ import annotations

import streamlit as st

from ui import state
from ui.evaluation_run import HOW_TO_RUN, list_runs, load_run, metric_tables


def main() -> None:
    """Render the evaluation page."""
    state.require_staff()
    cfg = state.config()
    st.title("Evaluation")
    runs = list_runs(cfg.runs_dir)
    if not runs:
        st.info(f"No evaluation yet in {cfg.runs_dir}. Run:")
        st.code(HOW_TO_RUN.format(home=cfg.home), language="bash")
        return
    names = {str(run.relative_to(cfg.runs_dir)) if run != cfg.runs_dir else run.name: run for run in runs}
    chosen = st.selectbox(f"Run ({len(runs)} under {cfg.runs_dir}, newest first)", list(names), key="eval_run")
    try:
        run = load_run(names[chosen])
    except ValueError as exc:
        st.error(str(exc))
        return
    st.caption(f"Showing {run.path}")
    tables = metric_tables(run.metrics)
    for name, rows in tables.items():
        st.subheader(name.replace("_", " ").capitalize())
        st.dataframe(rows, hide_index=True, width="stretch")
    if not tables:
        st.json(run.metrics)
    if run.plots:
        st.subheader("Plots")
        columns = st.columns(2)
        for i, plot in enumerate(run.plots):
            columns[i % 2].image(str(plot), caption=plot.stem.replace("_", " "))
    if run.report:
        with st.expander("Report", expanded=not tables):
            st.markdown(run.report)
    with st.expander("metrics.json"):
        st.json(run.metrics, expanded=False)


main()
