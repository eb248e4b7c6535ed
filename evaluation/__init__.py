"""Offline comparison of the rag, finetune and hybrid modes: KPIs, prompt suites and reports."""
