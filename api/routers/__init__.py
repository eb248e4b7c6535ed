"""One router per resource: chat, sessions, feedback, handoff, knowledge base, escalations, health."""
