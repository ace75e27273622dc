"""Error classification, Bolna's three error body shapes, and Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bolna_sip_operator.bolna import (
    BadRequest,
    BolnaError,
    Conflict,
    NotFound,
    PermanentError,
    RateLimited,
    Redactor,
    Rejected,
    ServerError,
    TemporaryError,
    Unauthorized,
    UncertainOutcome,
)
from bolna_sip_operator.bolna.errors import (
    error_class,
    error_from_response,
    parse_error_message,
    parse_retry_after,
    uncertain,
)

CLASSIFICATION = [
    (400, BadRequest, PermanentError),
    (401, Unauthorized, PermanentError),
    (403, Unauthorized, PermanentError),
    (404, NotFound, PermanentError),
    (405, PermanentError, PermanentError),
    (409, Conflict, PermanentError),
    (410, PermanentError, PermanentError),
    (422, Rejected, PermanentError),
    (408, TemporaryError, TemporaryError),
    (429, RateLimited, TemporaryError),
    (500, ServerError, TemporaryError),
    (502, ServerError, TemporaryError),
    (503, ServerError, TemporaryError),
    (504, ServerError, TemporaryError),
]


@pytest.mark.parametrize(("status", "cls", "family"), CLASSIFICATION)
def test_status_classification(status: int, cls: type[BolnaError],
                               family: type[BolnaError]) -> None:
    assert error_class(status) is cls
    error = error_from_response(status=status, body=b"", reason="", retry_after=None,
                                method="GET", path="/p", redactor=Redactor())
    assert type(error) is cls and isinstance(error, family)
    assert error.status == status


def test_uncertain_outcome_is_temporary_and_keeps_the_context() -> None:
    error = uncertain(ServerError("boom", status=502, method="POST", path="/sip-trunks/trunks"))
    assert isinstance(error, UncertainOutcome) and isinstance(error, TemporaryError)
    assert (error.status, error.method, error.path) == (502, "POST", "/sip-trunks/trunks")
    assert "boom" in error.message


@pytest.mark.parametrize(("body", "message"), [
    ({"detail": "Unrecognized access token"}, "Unrecognized access token"),
    ({"message": "Trunk name is required"}, "Trunk name is required"),
    ({"error": 400, "message": "At least one gateway is required"},
     "At least one gateway is required"),
    ({"error": 422, "message": "media_encryption='sdes' requires transport='transport-tls'"},
     "media_encryption='sdes' requires transport='transport-tls'"),
    ({"error": "Conflict", "message": "Trunk name already exists"}, "Trunk name already exists"),
    ({"error": "Not Found"}, "Not Found"),
    ({"detail": [{"loc": ["body", "gateways"], "msg": "At least one gateway is required",
                  "type": "value_error", "input": []},
                 {"loc": ["body", "gateways", 0, "port"], "msg": "Input should be an integer",
                  "type": "int_parsing", "input": "x"}]},
     "gateways: At least one gateway is required; gateways.0.port: Input should be an integer"),
    ({"detail": [{"msg": "bad"}]}, "bad"),
    ({"detail": {"message": "nested"}}, "nested"),
])
def test_message_from_each_documented_body_shape(body: object, message: str) -> None:
    assert parse_error_message(json.dumps(body).encode(), "Reason") == message


@pytest.mark.parametrize("body", [
    b"", b"<html><body>502 Bad Gateway</body></html>", b"null", b"[]", b"42", b"{}",
    b'{"detail": ""}', b'{"message": null}', b"\xff\xfe", b'{"detail": [{"loc": 1}]}',
])
def test_unreadable_bodies_fall_back_to_the_reason_phrase(body: bytes) -> None:
    assert parse_error_message(body, "Bad Gateway") == "Bad Gateway"


def test_reason_phrase_from_the_status_when_the_server_sends_none() -> None:
    error = error_from_response(status=503, body=b"", reason="", retry_after=None,
                                method="GET", path="/p", redactor=Redactor())
    assert error.message == "Service Unavailable"


def test_long_messages_are_shortened() -> None:
    assert len(parse_error_message(json.dumps({"message": "x" * 5000}).encode(), "")) <= 500


@given(st.binary(max_size=300))
def test_parser_never_raises_on_bytes(body: bytes) -> None:
    assert isinstance(parse_error_message(body, "Reason"), str)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["detail", "message", "error", "msg", "loc", "x"]),
                      children, max_size=4),
    max_leaves=20))
def test_parser_never_raises_on_any_json(document: object) -> None:
    message = parse_error_message(json.dumps(document).encode(), "Reason")
    assert isinstance(message, str) and message


_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=200).filter(
    lambda text: text.strip())


@given(_TEXT, st.sampled_from(["detail", "message", "error+message"]))
def test_parser_returns_the_text_of_any_shape(text: str, shape: str) -> None:
    body = {"error": 400, "message": text} if shape == "error+message" else {shape: text}
    assert parse_error_message(json.dumps(body).encode(), "Reason") == " ".join(text.split())


def test_server_messages_are_redacted() -> None:
    body = json.dumps({"detail": "token tok-123 rejected for password pw-9"}).encode()
    error = error_from_response(status=403, body=body, reason="Forbidden", retry_after=None,
                                method="GET", path="/p", redactor=Redactor(["tok-123", "pw-9"]))
    assert error.message == "token *** rejected for password ***"


def test_error_str_and_repr_name_method_path_status_only() -> None:
    error = NotFound("trunk not found", status=404, method="GET", path="/sip-trunks/trunks/x")
    assert str(error) == "GET /sip-trunks/trunks/x: HTTP 404: trunk not found"
    assert repr(error) == ("NotFound(status=404, method='GET', path='/sip-trunks/trunks/x', "
                           "message='trunk not found')")


NOW = datetime(2026, 5, 9, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), ("0", 0.0), (" 7 ", 7.0), ("1.5", 1.5), ("-3", 0.0),
    (None, None), ("", None), ("soon", None), ("nan", None), ("inf", None),
    ("Sat, 09 May 2026 10:00:30 GMT", 30.0),
    ("Sat, 09 May 2026 09:59:00 GMT", 0.0),
])
def test_retry_after_seconds_or_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@given(st.integers(0, 86_400))
def test_retry_after_http_date_round_trips(delta: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=delta), usegmt=True)
    assert parse_retry_after(header, NOW) == delta


def test_rate_limited_carries_retry_after() -> None:
    error = error_from_response(status=429, body=b'{"message": "slow down"}', reason="",
                                retry_after="12", method="PATCH", path="/p",
                                redactor=Redactor())
    assert isinstance(error, RateLimited) and error.retry_after == 12.0
