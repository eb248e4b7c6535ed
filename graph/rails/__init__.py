"""Rule and lexicon guardrails (es and en), pure functions the rail nodes call: each returns a small verdict."""
