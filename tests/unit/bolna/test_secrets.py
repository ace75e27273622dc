"""The API token and the SIP password never leave their secret types: not in reprs, error
messages, exception chains or log records, even when Bolna echoes them back."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from bolna_sip_operator.bolna import (
    BolnaClient,
    BolnaError,
    GatewayCreate,
    LimiterRegistry,
    RetryPolicy,
    TrunkCreate,
    TrunkUpdate,
)

from . import examples
from .conftest import PASSWORD, TOKEN, FakeClock, ScriptedBolna, reply

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., BolnaClient]
CANARIES = (TOKEN, PASSWORD)


def _clean(text: str, canaries: tuple[str, ...] = CANARIES) -> bool:
    return not any(canary in text for canary in canaries)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _assert_clean_error(error: BaseException, canaries: tuple[str, ...] = CANARIES) -> None:
    for link in _chain(error):
        for text in (str(link), repr(link), repr(vars(link)), repr(link.args)):
            assert _clean(text, canaries), text
    assert _clean("".join(traceback.format_exception(error)), canaries)
    # Not chained to the httpx exception, which holds the request and its headers.
    assert error.__cause__ is None and error.__context__ is None


def _create() -> TrunkCreate:
    return TrunkCreate(name="t", provider="twilio", auth_type="userpass", auth_username="u",
                       auth_password=SecretStr(PASSWORD),
                       gateways=[GatewayCreate(gateway_address="sip.example.com")])


ECHOES: list[tuple[str, httpx.Response | Exception]] = [
    ("403-detail", reply(403, {"detail": f"Unrecognized access token {TOKEN}"})),
    ("422-detail-list", reply(422, {"detail": [{
        "loc": ["body", "auth_password"], "input": PASSWORD,
        "msg": f"password {PASSWORD} is too weak", "type": "value_error"}]})),
    ("400-error-message", reply(400, {"error": 400, "message": f"Bearer {TOKEN} / {PASSWORD}"})),
    ("409-html", reply(409, text=f"<html>Authorization: Bearer {TOKEN} {PASSWORD}</html>")),
    ("201-bad-shape", reply(201, {"id": 1, "name": PASSWORD})),
    ("500-message", reply(500, {"message": f"failed for {PASSWORD} {TOKEN}"})),
    ("connect-error", httpx.ConnectError(f"cannot connect with {TOKEN} {PASSWORD}")),
    ("read-timeout", httpx.ReadTimeout(f"timed out sending {PASSWORD} {TOKEN}")),
    ("dropped", httpx.RemoteProtocolError(f"dropped {TOKEN} {PASSWORD}")),
]


@pytest.mark.parametrize("answer", [answer for _, answer in ECHOES],
                         ids=[name for name, _ in ECHOES])
@pytest.mark.parametrize("operation", ["create", "update"])
async def test_echoed_secrets_are_scrubbed_from_errors_and_logs(
        make_client: MakeClient, clock: FakeClock, caplog: pytest.LogCaptureFixture,
        operation: str, answer: httpx.Response | Exception) -> None:
    caplog.set_level(logging.DEBUG)
    bolna = ScriptedBolna(answer)
    retry = RetryPolicy(max_attempts=2, jitter="none", sleep=clock.sleep)
    async with make_client(bolna, retry=retry) as client:
        call = (client.create_trunk(_create()) if operation == "create" else
                client.update_trunk("t1", TrunkUpdate(auth_password=SecretStr(PASSWORD))))
        with pytest.raises(BolnaError) as caught:
            await call
    _assert_clean_error(caught.value)
    _assert_clean_logs(caplog)
    if not isinstance(answer, httpx.Response) or answer.headers.get("Content-Type") == \
            "application/json":
        assert "***" in caught.value.message or caught.value.status == 201


@pytest.mark.parametrize("answer", [answer for _, answer in ECHOES],
                         ids=[name for name, _ in ECHOES])
async def test_an_echoed_token_is_scrubbed_from_any_call(
        make_client: MakeClient, caplog: pytest.LogCaptureFixture,
        answer: httpx.Response | Exception) -> None:
    """A GET knows no password, so only the token can be scrubbed there."""
    caplog.set_level(logging.DEBUG)
    async with make_client(ScriptedBolna(answer), retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(BolnaError) as caught:
            await client.get_trunk("t1")
    _assert_clean_error(caught.value, (TOKEN,))


def _assert_clean_logs(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "the client logs its attempts at DEBUG"
    for record in caplog.records:
        assert _clean(record.getMessage()) and _clean(repr(record.args))
        assert _clean(record.exc_text or "")
    assert _clean(caplog.text)


async def test_successful_calls_log_nothing_secret(
        make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bolna = ScriptedBolna(reply(503, text=""), reply(201, examples.USERPASS_RESPONSE))
    async with make_client(bolna) as client:
        await client.update_trunk("t1", TrunkUpdate(auth_password=SecretStr(PASSWORD)))
    assert bolna.body()["auth_password"] == PASSWORD  # it did go where it belongs
    bolna_records = [r for r in caplog.records if r.name.startswith("bolna_sip_operator")]
    assert len(bolna_records) == 3  # two attempts and one retry decision
    assert "PATCH /sip-trunks/trunks/t1 -> 503" in bolna_records[0].getMessage()
    assert "attempt 1" in bolna_records[0].getMessage()
    assert _clean(caplog.text)


async def test_reprs_hide_the_token_and_the_password() -> None:
    registry = LimiterRegistry()
    async with BolnaClient(TOKEN, limiters=registry) as client:
        for text in (repr(client), str(client), repr(client.rate_limiter), repr(registry),
                     repr(client.retry), repr(client.counts), repr(vars(client)),
                     repr(client._http.headers)):
            assert _clean(text), text
    for model in (_create(), TrunkUpdate(auth_password=SecretStr(PASSWORD))):
        assert _clean(repr(model)) and _clean(str(model)) and _clean(model.model_dump_json())
