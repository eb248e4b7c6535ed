"""Prometheus metrics of one app, in its own registry (several apps in one process never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """Request, chat and rate-limit counters exposed at ``GET /metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "supportbot_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "supportbot_http_request_seconds",
            "Time to the response headers, by route template.",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.chat_turns = Counter(
            "supportbot_chat_turns",
            "Chat turns answered, by mode, route (answered, out_of_scope, refused, handoff) and language.",
            ["mode", "route", "lang"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "supportbot_rate_limited", "Requests refused with 429, by role.", ["role"], registry=self.registry
        )
        self.ready = Gauge(
            "supportbot_ready",
            "1 when /readyz says ready: graph and index loaded, shared state answering, data home writable.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)
