"""The LangGraph support agent: state, nodes, guardrails, generators and routing by mode."""
