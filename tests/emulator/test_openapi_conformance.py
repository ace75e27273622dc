"""schemathesis against a real emulator process, with Bolna's own OpenAPI.

Every operation of Bolna's ``/sip-trunks`` document is called with data generated from
its schemas, valid and invalid, with the bearer token, on loopback; each answer must
keep to the document:

- no 5xx (the emulator's faults are off);
- a status the document lists for the operation, or one of those the emulator answers
  where the document is silent (``STATUSES_WHERE_SILENT``, the list in ``app.py``);
- the documented content type, and a body that matches the documented response schema;
- a body that does not fit the request schema is refused (400 or 422);
- a method the path lacks is a 405 with ``Allow``; a request without the token is
  refused.

Bounded: a few examples per operation and phase and a deadline per example, so the
whole file runs in well under a minute on two cores.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
)

from bolna_emulator import openapi
from bolna_emulator.process import EmulatorProcess

from .conftest import TOKEN_A

STATUSES_WHERE_SILENT: dict[tuple[str, str], frozenset[int]] = {
    ("POST", "/sip-trunks/trunks"): frozenset({409, 422}),
    ("GET", "/sip-trunks/trunks"): frozenset(),
    ("GET", "/sip-trunks/trunks/{trunk_id}"): frozenset(),
    ("PATCH", "/sip-trunks/trunks/{trunk_id}"): frozenset({404, 409, 422}),
    ("DELETE", "/sip-trunks/trunks/{trunk_id}"): frozenset(),
    ("POST", "/sip-trunks/trunks/{trunk_id}/numbers"): frozenset({404, 409, 422}),
    ("GET", "/sip-trunks/trunks/{trunk_id}/numbers"): frozenset(),
    ("DELETE", "/sip-trunks/trunks/{trunk_id}/numbers/{phone_number_id}"): frozenset(),
}
"""Statuses the emulator answers that Bolna's OpenAPI does not list for the operation
(``app.py``, "Where the OpenAPI is silent", 1 and 5), besides 403 without a token and
405 for a method a path lacks, which the checks of those cases expect."""

EXPECTED_WITHOUT_THE_TOKEN = frozenset({403})
EXPECTED_FOR_A_METHOD_THE_PATH_LACKS = frozenset({405})

CONFIG = schemathesis.Config.from_dict({
    "seed": 20240509,
    # The token as the document's own security scheme, so that schemathesis knows it
    # for the requests it sends without it (ignored_auth, negative headers).
    "auth": {"openapi": {"bearerAuth": {"bearer": TOKEN_A}}},
    "generation": {"mode": "all", "max-examples": 40},
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "checks": {
        "negative_data_rejection": {"expected-statuses": ["400", "403", "405", "422"]},
    },
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
})

schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)


@schemathesis.check
def status_code_documented_or_listed(ctx: CheckContext, response: Response,
                                     case: Case[Any]) -> bool | None:
    """The status is one the document lists for the operation, or one the emulator's
    list of silences names for it."""
    key = (case.operation.method.upper(), case.operation.path)
    if case.method.upper() != key[0]:
        assert response.status_code in EXPECTED_FOR_A_METHOD_THE_PATH_LACKS, (
            f"{case.method} {key[1]} answered {response.status_code}")
        return None
    documented = {int(code) for code in case.operation.responses.status_codes
                  if code.isdigit()}
    allowed = documented | STATUSES_WHERE_SILENT[key] | EXPECTED_WITHOUT_THE_TOKEN
    assert response.status_code in allowed, (
        f"{key[0]} {key[1]} answered {response.status_code}; documented "
        f"{sorted(documented)}, silent {sorted(STATUSES_WHERE_SILENT[key])}")
    return None


CHECKS = [not_a_server_error, status_code_documented_or_listed, content_type_conformance,
          response_schema_conformance, response_headers_conformance,
          negative_data_rejection, unsupported_method, ignored_auth]


@pytest.fixture(scope="module")
def emulator(emulator_process: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """The shared emulator, emptied before and after."""
    emulator_process.reset()
    yield emulator_process
    emulator_process.reset()


@pytest.fixture(scope="module")
def api(emulator: EmulatorProcess) -> Iterator[httpx.Client]:
    with emulator.client(TOKEN_A) as client:
        yield client


def _aim_at_real_ids(case: Case[Any], api: httpx.Client) -> None:
    """Generated ids never name a trunk, so every call on one would be a 404. For half
    of the cases (by the generated id, so a seed replays), make a trunk with a number
    first and aim the case at them, so that the answers of a real trunk and number are
    checked too."""
    trunk_id = case.path_parameters.get("trunk_id") if case.path_parameters else None
    if not isinstance(trunk_id, str) or len(trunk_id) % 2:
        return
    made = next(_made)
    trunk = api.post("/sip-trunks/trunks", json={
        "name": f"conformance {made}", "provider": "custom", "auth_type": "ip-based",
        "gateways": [{"gateway_address": "sip.example.com"}],
        "ip_identifiers": [{"ip_address": "192.0.2.1"}], "transport": "transport-tls"})
    assert trunk.status_code == 201, trunk.text
    number = api.post(f"/sip-trunks/trunks/{trunk.json()['id']}/numbers",
                      json={"phone_number": f"1415555{made:04d}"})
    assert number.status_code == 201, number.text
    assert case.path_parameters is not None
    case.path_parameters["trunk_id"] = trunk.json()["id"]
    if "phone_number_id" in case.path_parameters:
        case.path_parameters["phone_number_id"] = number.json()["id"]


_made = itertools.count(1)


def test_the_operations_are_the_documents() -> None:
    operations = {(found.method.upper(), found.path)
                  for found in (result.ok() for result in schema.get_all_operations()
                                if isinstance(result, Ok))}
    assert operations == set(STATUSES_WHERE_SILENT)


@pytest.mark.timeout(60)
@schema.parametrize()
@settings(deadline=2000)
def test_the_emulator_keeps_bolnas_openapi(case: Case[Any], emulator: EmulatorProcess,
                                           api: httpx.Client) -> None:
    _aim_at_real_ids(case, api)
    case.call_and_validate(base_url=emulator.url, checks=CHECKS, timeout=10)


def test_the_run_met_real_trunks_and_every_documented_success(
        emulator: EmulatorProcess) -> None:
    """Runs after the conformance test (file order): it reached the success answers."""
    statuses = {(entry["method"], entry["route"], entry["status"])
                for entry in emulator.requests()}
    for method, route, status in (
            ("POST", "/sip-trunks/trunks", 201), ("GET", "/sip-trunks/trunks", 200),
            ("GET", "/sip-trunks/trunks/{trunk_id}", 200),
            ("PATCH", "/sip-trunks/trunks/{trunk_id}", 200),
            ("DELETE", "/sip-trunks/trunks/{trunk_id}", 200),
            ("GET", "/sip-trunks/trunks/{trunk_id}/numbers", 200),
            ("POST", "/sip-trunks/trunks/{trunk_id}/numbers", 201),
            ("DELETE", "/sip-trunks/trunks/{trunk_id}/numbers/{phone_number_id}", 200)):
        assert (method, route, status) in statuses, (method, route, status)
