"""Schemathesis over the app's OpenAPI schema: generated requests, valid and invalid, never get a 5xx.

A small, fast version of the full run documented in docs/api.md. Hypothesis drives schemathesis' strategies
directly (its pytest plugin's lazy fixtures do not support pytest 9). Every operation but the admin writes runs
with an agent key on positive and negative examples; the admin writes run with an admin key on negative examples
only, since each accepted write re-indexes and reloads the agent (seconds per example) and a generated DELETE could
remove a real article.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, assume, given, settings
from pydantic import ValidationError
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.models import DOC_ID, IngestRequest

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, negative_data_rejection]
EXAMPLES = 6  # per operation and mode; the documented full run uses the schemathesis CLI defaults
OPERATIONS = [
    ("POST", "/v1/chat"),
    ("POST", "/v1/chat/stream"),
    ("GET", "/v1/sessions/{session_id}"),
    ("POST", "/v1/feedback"),
    ("POST", "/v1/handoff"),
    ("GET", "/v1/kb/search"),
    ("GET", "/v1/kb/gaps"),
    ("GET", "/v1/kb/documents/{doc_id}"),
    ("POST", "/v1/kb/documents"),
    ("DELETE", "/v1/kb/documents/{doc_id}"),
    ("GET", "/v1/escalations"),
    ("GET", "/v1/escalations/{escalation_id}"),
    ("POST", "/v1/escalations/{escalation_id}/claim"),
    ("POST", "/v1/escalations/{escalation_id}/messages"),
    ("POST", "/v1/escalations/{escalation_id}/resolve"),
    ("POST", "/v1/escalations/{escalation_id}/release"),
    ("POST", "/v1/auth/signin"),
    ("GET", "/v1/auth/me"),
    ("POST", "/v1/auth/signout"),
    ("GET", "/v1/sessions/{session_id}/events"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]
WRITES = {("POST", "/v1/kb/documents"), ("DELETE", "/v1/kb/documents/{doc_id}")}
NO_INPUT = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}  # nothing to make invalid


def _would_write(method: str, case: Any) -> bool:
    if method == "DELETE":
        return re.fullmatch(DOC_ID, str((case.path_parameters or {}).get("doc_id", ""))) is not None
    try:
        IngestRequest.model_validate(case.body)
    except ValidationError:
        return False
    return True


# Invalid input is rejected with schemathesis' default statuses or 413: a body over the server's byte cap
# (SUPPORTBOT_MAX_BODY_BYTES, documented on every route that takes one) is refused before it is parsed.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]


@pytest.fixture(scope="session")
def fuzz_schema(app: FastAPI, client: Any) -> Any:
    """The app's schema, loaded through ASGI (the ``client`` fixture has started the app)."""
    config = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def test_every_operation_is_fuzzed(fuzz_schema: Any) -> None:
    found = {(result.ok().method.upper(), result.ok().path) for result in fuzz_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors(fuzz_schema: Any, keys: dict[str, dict[str, str]], method: str, path: str) -> None:
    operation = fuzz_schema[path][method]
    write = (method, path) in WRITES
    headers = keys["admin" if write else "agent"]
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    if write:
        modes = [GenerationMode.NEGATIVE]
    elif (method, path) in NO_INPUT:
        modes = [GenerationMode.POSITIVE]
    for mode in modes:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            if write:  # a "negative" case may still mutate only a header: skip those that would really write
                assume(not _would_write(method, case))
            case.call_and_validate(headers=headers, checks=CHECKS)

        fuzz()
