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
    trunks = [d for d in yaml.safe_load_all(out) if d]
    assert len(trunks) == 7  # four for real carriers, two in examples/local/, one in kind/
    assert all(t["spec"]["qualifyFrequency"] == 60 for t in trunks)
    assert "7 of 7 SipTrunks valid" in err


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
