"""Logs mask personal data: the redaction itself and the access log of a real request."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from api.logs import LOGGER_NAME, redact_for_log
from tests.graph.test_untrusted_text import SIZE, deadline


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
