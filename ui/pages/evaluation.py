"""Evaluation dashboard: the latest ``supportbot eval compare`` run's tables, report and plots."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui import state
from ui.evaluation_run import HOW_TO_RUN, find_latest_run, load_run, metric_tables


def main() -> None:
    """Render the evaluation page."""
    cfg = state.config()
    st.title("Evaluation")
    chosen = st.text_input(
        "Evaluation folder (an `eval compare --out` folder, or a folder of `eval*` runs)",
        value=str(cfg.runs_dir),
        key="eval_root",
    )
    run_dir = find_latest_run(Path(chosen))
    if run_dir is None:
        st.info(f"No evaluation yet in {chosen}. Run:")
        st.code(HOW_TO_RUN.format(home=cfg.home), language="bash")
        return
    try:
        run = load_run(run_dir)
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
