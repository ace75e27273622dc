"""The command line: exit codes and output a person and a script can rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bolna_sip_operator.cli import main
from tests.corpus import INVALID_CASES

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_validate_examples_exits_zero_and_prints_defaulted_yaml(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-o", "yaml", str(EXAMPLES)]) == 0
    out, err = capsys.readouterr()
    documents = [d for d in yaml.safe_load_all(out) if d]
    trunks = [d for d in documents if d["kind"] == "SipTrunk"]
    assert len(trunks) == 7  # four for real carriers, two in examples/local/, one in kind/
    assert all(t["spec"]["qualifyFrequency"] == 60 for t in trunks)
    carriers = [d for d in documents if d["kind"] == "CarrierTrunk"]
    assert len(carriers) == 4  # three in examples/carriertrunk/, one in kind/
    assert all(t["spec"]["channels"] > 0 and t["spec"]["isActive"] for t in carriers)
    assert "7 of 7 SipTrunks valid, 4 of 4 CarrierTrunks valid" in err


def test_validate_names_each_kind_and_counts_them_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "mixed.yaml"
    target.write_text(yaml.safe_dump_all([
        {"apiVersion": "sip.bolna.ai/v1alpha1", "kind": "CarrierTrunk",
         "metadata": {"name": "ok"}, "spec": {"preset": "telnyx"}},
        {"apiVersion": "sip.bolna.ai/v1alpha1", "kind": "CarrierTrunk",
         "metadata": {"name": "bad"}, "spec": {"channels": 0}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
    ]))
    assert main(["validate", str(target)]) == 1
    err = capsys.readouterr().err
    assert "CarrierTrunk ok: valid" in err
    assert "CarrierTrunk bad: invalid, 1 error" in err and "spec.channels" in err
    assert "Secret s: skipped (not a SipTrunk or CarrierTrunk)" in err
    assert err.rstrip().endswith("1 of 2 CarrierTrunks valid")


def test_validate_without_trunks_says_so(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "secret.yaml"
    target.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    assert main(["validate", str(target)]) == 1
    assert "no SipTrunk or CarrierTrunk documents found" in capsys.readouterr().err


def test_validate_invalid_file_exits_one_naming_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in INVALID_CASES if c.id == "yaml-no-trap")
    target = tmp_path / "bad.yaml"
    target.write_text(yaml.safe_dump(case.build()))
    assert main(["validate", str(target)]) == 1
    err = capsys.readouterr().err
    assert "spec.mediaEncryption" in err and "hint:" in err


def test_validate_missing_file_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "/nonexistent/trunk.yaml"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_crd_prints_the_checked_in_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    checked_in = (Path(__file__).parents[2] / "crds" / "siptrunk.yaml").read_text()
    assert capsys.readouterr().out == checked_in


@pytest.mark.parametrize("kind", ["CarrierTrunk", "carriertrunks", "carriertrunk", "ctrunk"])
def test_crd_kind_prints_the_checked_in_carrier_trunk_crd(
        kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "--kind", kind]) == 0
    checked_in = (Path(__file__).parents[2] / "crds" / "carriertrunk.yaml").read_text()
    assert capsys.readouterr().out == checked_in


def test_crd_kind_all_prints_both_as_one_stream(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "--kind", "all"]) == 0
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["metadata"]["name"] for d in documents] == [
        "siptrunks.sip.bolna.ai", "carriertrunks.sip.bolna.ai"]


def test_crd_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["crd", "--kind", "Trunk"])
    assert exit_info.value.code == 2
    assert "give SipTrunk, CarrierTrunk or all" in capsys.readouterr().err


def test_help_teaches_by_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "exit status" in out and "bolna-sip-operator validate examples/" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--kamailio-service", "kamailio"], "--kamailio-service takes NAMESPACE/NAME"),
    (["--kamailio-rpc", "http://127.0.0.1:5090/RPC"], "needs where its lists go"),
    (["--kamailio-service", "sip/kamailio", "--kamailio-rpc", "http://127.0.0.1:1/RPC",
      "--lists-configmap", "sip/lists"], "either --kamailio-rpc or --kamailio-service"),
    (["--kamailio-service", "sip/kamailio", "--lists-configmap", "sip/lists",
      "--dispatcher-file", "/tmp/d"], "either --lists-configmap or --dispatcher-file"),
    (["--peering", "bolna", "--namespace", "team-*"], "--peering needs every --namespace"),
])
def test_run_refuses_edge_settings_that_cannot_work(
        args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "validation error" not in err  # one plain sentence, not pydantic's dump
