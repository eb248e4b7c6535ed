"""Logs mask personal data: the redaction itself and the access log of a real request."""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.logs import LOGGER_NAME, api_logger, log_formatter, redact_for_log, request_context
from tests.conftest import REPO
from tests.graph.test_untrusted_text import SIZE, deadline
from tests.postgres import free_port


@pytest.mark.parametrize(
    ("text", "secret", "placeholder"),
    [
        ("write to ana.lopez@mail.example please", "ana.lopez@mail.example", "<EMAIL>"),
        ("card 4111 1111 1111 1111 was charged", "4111 1111 1111 1111", "<CARD>"),
        ("IBAN ES91 2100 0418 4502 0005 1332", "2100 0418 4502", "<IBAN>"),
        ("mi DNI es 12345678Z", "12345678Z", "<DNI>"),
        ("llámame al +34 612 345 678", "612 345 678", "<PHONE>"),
        ("from 192.168.10.24", "192.168.10.24", "<IP>"),
        # Mexican identity and tax numbers, types the chat's redactor gained (2026-12-07) after this list was written
        ("mi curp es PEMJ900101HDFRRN07", "PEMJ900101HDFRRN07", "<CURP>"),
        ("RFC para facturar: PEMJ900101AB1", "PEMJ900101AB1", "<RFC>"),
        ("factura a la empresa ABC680524P76 por favor", "ABC680524P76", "<RFC>"),
        # a card with dots (typed as a phone until 2026-12-07) or slashes (kept in clear), an IBAN in lower case or
        # with dashes (its country code and last group kept), a DNI/NIE with a lower-case or dash-separated letter
        ("card 4111.1111.1111.1111 charged", "4111.1111", "<CARD>"),
        ("card 4111/1111/1111/1111 charged", "1111/1111", "<CARD>"),
        ("card 4111  1111  1111  1111 charged", "1111  1111", "<CARD>"),
        ("iban es91 2100 0418 4502 0005 1332", "1332", "<IBAN>"),
        ("IBAN ES91-2100-0418-4502-0005-1332", "ES91", "<IBAN>"),
        ("mi dni 12345678z", "12345678z", "<DNI>"),
        ("NIE Y-1234567-X", "Y-1234567", "<DNI>"),
        ("two hosts 192.168.1.24 10.0.0.1", "10.0.0.1", "<IP>"),
    ],
)
def test_redact_for_log(text: str, secret: str, placeholder: str) -> None:
    redacted = redact_for_log(text)
    assert secret not in redacted and placeholder in redacted


@pytest.mark.parametrize("unit", ["1.", "1-", "x1234567-", "a+", "1 ", "ab12 ", "4111 "])
def test_a_long_argument_is_redacted_in_linear_time(unit: str) -> None:
    """Every log line's arguments pass the redactor, and a requested path or an exception's text can be long: the
    e-mail pattern restarted at every position of a run with no "@" ("1.1.1...", "a-a-a..."), quadratic: 3-5 s for
    40,000 characters, minutes for 200,000 (a DPO QA pass, 2026-12-07). The deadline tells the two complexity classes
    apart, as in tests/graph/test_untrusted_text.py."""
    with deadline(10):
        redact_for_log((unit * SIZE)[:SIZE])


def test_plain_text_is_untouched() -> None:
    assert redact_for_log("POST /v1/chat 200 12.5ms key=ab12cd") == "POST /v1/chat 200 12.5ms key=ab12cd"


def test_access_log_has_no_query_text_or_pii(
    client: TestClient, keys: dict[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        client.get("/v1/kb/search", params={"q": "refund for ana.lopez@mail.example"}, headers=keys["agent"])
        logging.getLogger(LOGGER_NAME).warning("customer wrote %s", "call me on +34 612 345 678")
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    access = [line for line in lines if line.startswith("GET /v1/kb/search 200")]
    assert access and "key=" in access[0] and "key=-" not in access[0]
    assert not any("ana.lopez" in line or "612 345 678" in line for line in lines)
    assert any("<PHONE>" in line for line in lines)


def test_a_requested_path_cannot_forge_a_log_line(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """A newline or an ANSI escape in the path of a request (anyone can send one) is written escaped."""
    forged = "/v1/sessions/x%0a2026-12-05 18:59:59 INFO supportbot.api: POST /v1/kb/documents 201%1b[2J"
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        assert client.get(forged).status_code in (401, 404)
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert lines and all("\n" not in line and "\x1b" not in line for line in lines)
    access = [line for line in lines if line.startswith("GET /v1/sessions/x")]
    assert len(access) == 1 and "x\\n" in access[0] and "\\x1b[2J" in access[0], lines


def test_the_access_line_names_the_request_id_a_proxy_sent_or_the_one_made(
    client: TestClient, keys: dict[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    # A client (or support) quoting a response's X-Request-ID found nothing: the access line had no id, only an error
    # line did. And the id of the load balancer in front of the replicas (X-Request-ID) was dropped for a new one,
    # so its log and the replicas' could not be joined. A proxy's id is kept when it is a plain token (letters,
    # digits, ". _ : -", up to 128, nothing the log redactor changes); anything else gets an id of ours.
    sent = {
        "none": None,
        "proxy": "lb-4f0c2a9e:replica-hop_2.1",
        "address": "ana.lopez@mail.example",
        "phone": "612345678",  # the log redactor would write it <PHONE>: not findable as sent
        "long": "x" * 129,
    }
    answers = {}
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        for name, value in sent.items():
            headers = keys["customer"] if value is None else {**keys["customer"], "X-Request-ID": value}
            answers[name] = client.get("/v1/auth/me", headers=headers)
    assert answers["proxy"].headers["x-request-id"] == sent["proxy"]
    for name in ("none", "address", "phone", "long"):
        assert re.fullmatch(r"[0-9a-f]{32}", answers[name].headers["x-request-id"]), name
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    for name, response in answers.items():
        access = [line for line in lines if line.startswith("GET /v1/auth/me 200")
                  and f"id={response.headers['x-request-id']}" in line]  # fmt: skip
        assert len(access) == 1, (name, lines)
    assert not any("ana.lopez" in line for line in lines)


def test_every_request_id_is_logged_as_the_client_got_it(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    # A 503 says "the server log has the error (request <id>)", yet about one id in eighteen (uuid4().hex, e.g.
    # "ab12c4d5...") is IBAN-shaped to the log redactor and was written "request <IBAN>": that request could not be
    # found. Ids are made so the redactor leaves them as they are.
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        sent = [client.get("/healthz").headers["x-request-id"] for _ in range(300)]
    logged = {r.getMessage().rsplit(" id=", 1)[-1] for r in caplog.records if r.name == LOGGER_NAME}
    missing = [request_id for request_id in sent if request_id not in logged]
    assert not missing, missing


def test_an_id_is_no_iban_unless_its_check_digits_say_so() -> None:
    """About one ``uuid4().hex`` in eighteen ("ab12c4d5...", the form of session and case ids) has an IBAN's shape,
    and paths such as ``/v1/sessions/<id>`` were logged as ``/v1/sessions/<IBAN>``: that session could not be found
    in the log. An IBAN is now what the chat's redactor takes for one (country, length, mod-97 check digits); real
    ones, in any case and grouping, are still masked."""
    import random

    draw = random.Random(0)
    ids = [f"{draw.getrandbits(128):032x}" for _ in range(2000)]
    assert sum(bool(re.match(r"[a-f]{2}\d{2}", i)) for i in ids) > 20  # the shape is common enough to matter
    changed = [i for i in ids if redact_for_log(f"GET /v1/sessions/{i} 200") != f"GET /v1/sessions/{i} 200"]
    assert not changed, changed[:5]
    for iban in ("ES91 2100 0418 4502 0005 1332", "es9121000418450200051332", "DE89-3704-0044-0532-0130-00",
                 "GB29NWBK60161331926819"):  # fmt: skip
        assert redact_for_log(f"pay to {iban} now") == "pay to <IBAN> now", iban


_JSON_SERVER = """
import sys
from fastapi import FastAPI
from api.logs import api_logger, configure_logging
from api.metrics import Metrics
from api.middleware import ServiceMiddleware
from api.server import serve

configure_logging("INFO", "json")
app = FastAPI()
app.add_middleware(ServiceMiddleware, metrics=Metrics(), max_body_bytes=65536)

@app.get("/v1/boom")
def boom() -> None:
    api_logger().warning("customer wrote %s", "ana.lopez@mail.example, line\\nbreak")
    raise RuntimeError("card 4111 1111 1111 1111 declined")

serve(app, "127.0.0.1", int(sys.argv[1]), "info", uvicorn_logging=False)
"""


def test_json_logs_are_one_masked_object_a_line(tmp_path: Path) -> None:
    # Log shippers expect JSON lines; the logs were text only (the SRE QA pass, 2026-12-08). With
    # SUPPORTBOT_LOG_FORMAT=json every line `supportbot serve` writes, uvicorn's own included, is one JSON object,
    # masked by the same filter as the text lines and naming the request it was logged in.
    port = free_port()
    script = tmp_path / "server.py"
    script.write_text(_JSON_SERVER, "utf-8")
    server = subprocess.Popen([sys.executable, str(script), str(port)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            answer = http.get("/v1/boom", headers={"X-Request-ID": "lb-7:hop_1"})
            # (ids of its own: one of ours could be IBAN-shaped, and the IBAN check loads python-stdnum, seconds)
            http.get("/v1/sessions/ana.lopez@mail.example", headers={"X-Request-ID": "lb-8"})
        assert answer.status_code == 500 and answer.headers["x-request-id"] == "lb-7:hop_1"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, errors = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    lines = [line for line in errors.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, or this fails on the first that is not JSON
    assert all({"timestamp", "level", "logger", "message"} <= set(r) for r in records)
    assert all(datetime.fromisoformat(r["timestamp"]).utcoffset() == timedelta(0) for r in records)
    assert any(r["logger"].startswith("uvicorn") and "startup complete" in r["message"] for r in records)
    mine = [r for r in records if r.get("request_id") == "lb-7:hop_1"]
    assert {r["level"] for r in mine} == {"WARNING", "ERROR", "INFO"}, mine  # the warning, the failure, the access
    warning = next(r for r in mine if r["level"] == "WARNING")
    assert warning["message"] == "customer wrote <EMAIL>, line\\nbreak" and warning["logger"] == LOGGER_NAME
    failure = next(r for r in mine if r["level"] == "ERROR")
    assert "RuntimeError" in failure["exception"] and "<CARD>" in failure["exception"]
    assert "GET /v1/sessions/<EMAIL> 401" in errors or "GET /v1/sessions/<EMAIL> 404" in errors
    assert "ana.lopez" not in errors and "4111" not in errors


def test_the_json_and_text_formats_write_the_same_masked_message() -> None:
    """One redaction for both formats: the filter on the API's logger, before any handler formats the record."""
    logger = api_logger()
    text, json_lines = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(json_lines)]
    handlers[0].setFormatter(log_formatter("text"))
    handlers[1].setFormatter(log_formatter("json"))
    level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        logger.info("session %s: %s", "s-1", "mi DNI es 12345678Z, IBAN ES91 2100 0418 4502 0005 1332")
        with request_context("req-42"):
            logger.warning("customer wrote %s", "+34 612 345 678")
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
        logger.setLevel(level)
    records = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    text_lines = text.getvalue().splitlines()
    assert [r["message"] for r in records] == [line.split(f"{LOGGER_NAME}: ", 1)[1] for line in text_lines]
    assert records[0]["message"] == "session s-1: mi DNI es <DNI>, IBAN <IBAN>" and "request_id" not in records[0]
    assert records[1]["message"] == "customer wrote <PHONE>" and records[1]["request_id"] == "req-42"
    with pytest.raises(ValueError, match="text, json"):
        log_formatter("xml")
