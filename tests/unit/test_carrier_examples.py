"""The CarrierTrunk examples (examples/carriertrunk/): valid, one per carrier, and set up
the way each carrier's own trunk is (the apiserver half is in
tests/integration/test_carrier_crd_apiserver.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bolna_sip_operator.cli import main
from bolna_sip_operator.model.carrier_spec import CarrierTrunkSpec

EXAMPLES = Path(__file__).parents[2] / "examples" / "carriertrunk"
CARRIERS = ("telnyx", "twilio", "plivo")


def _documents(carrier: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLES / f"{carrier}.yaml").read_text()) if d]


def _trunk(carrier: str) -> CarrierTrunkSpec:
    (document,) = [d for d in _documents(carrier) if d["kind"] == "CarrierTrunk"]
    return CarrierTrunkSpec.model_validate(document["spec"])


def test_validate_accepts_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(CARRIERS)
    assert main(["validate", str(EXAMPLES)]) == 0
    assert "3 of 3 CarrierTrunks valid" in capsys.readouterr().err


@pytest.mark.parametrize("carrier", CARRIERS)
def test_each_example_is_its_carriers_preset_and_explains_itself(carrier: str) -> None:
    assert _trunk(carrier).preset == carrier
    first = (EXAMPLES / f"{carrier}.yaml").read_text().splitlines()[0]
    assert first.startswith("#") and carrier.capitalize() in first


@pytest.mark.parametrize("carrier", CARRIERS)
def test_each_example_has_outbound_gateways_inbound_carrier_ips_and_numbers(
        carrier: str) -> None:
    spec = _trunk(carrier)
    assert spec.gateways and spec.ipAcls and spec.numbers
    for document in _documents(carrier):
        assert "namespace" not in document["metadata"], "kubectl -n chooses"


def test_telnyx_authenticates_by_ip() -> None:
    spec = _trunk("telnyx")
    assert not spec.has_credentials
    assert spec.ordered_gateways()[0].host == "sip.telnyx.com"


def test_twilio_uses_a_credential_list_and_its_termination_uri() -> None:
    spec = _trunk("twilio")
    assert spec.has_credentials and spec.authPasswordSecretRef is not None
    secrets = [d for d in _documents("twilio") if d["kind"] == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == [spec.authPasswordSecretRef.name]
    assert spec.authPasswordSecretRef.key in secrets[0]["stringData"]
    assert spec.ordered_gateways()[0].host.endswith(".pstn.twilio.com")


def test_plivo_dials_its_termination_domain_with_agents_on_numbers() -> None:
    spec = _trunk("plivo")
    assert spec.gateways[0].host.endswith(".zt.plivo.com")
    assert spec.defaultInboundAgentId is not None
    assert any(number.agentId for number in spec.numbers)
    assert any(number.destinationKey for number in spec.numbers)
