"""Every shell block of the docs says how it is tested, and the samples are real output.

``tests/docs.py`` reads the markers; ``tests/integration/test_docs_commands.py`` runs the
``run`` blocks. Here, without running anything: no block goes untested unnoticed, a
``run by`` names a file that exists, the blocks that cannot run here are counted, and
the sample output the README shows for ``validate`` is what ``validate`` prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bolna_sip_operator import cli
from tests.docs import REPO, all_blocks

NOT_RUN = 10  # +2: the chart README's cert-manager Certificate and TLS Secrets (need a cluster)
"""Blocks that cannot run on this machine (an image registry, Argo CD, a Prometheus
Operator); a new one must be counted here on purpose."""


def test_every_shell_block_says_how_it_is_tested() -> None:
    unmarked = [b.where for b in all_blocks() if b.marker is None]
    assert not unmarked, (
        f"shell blocks without a '<!-- docs: ... -->' marker on the line before: {unmarked} "
        "(see tests/docs.py)")


def test_run_by_names_files_that_exist() -> None:
    missing = [(b.where, path) for b in all_blocks() if b.run_by
               for path in b.run_by.split(",") if not (REPO / path).exists()]
    assert not missing


def test_the_blocks_not_run_are_counted(capsys: pytest.CaptureFixture[str]) -> None:
    not_run = [b for b in all_blocks() if b.not_run]
    with capsys.disabled():
        print(f"\n{len(not_run)} doc block(s) not run here:")
        for block in not_run:
            print(f"  {block.where}: {block.not_run}")
    assert len(not_run) == NOT_RUN, [b.where for b in not_run]
    assert all(len(b.not_run or "") > 10 for b in not_run), "each says why"
    assert sum(b.runs for b in all_blocks()) >= 7


def test_the_validate_sample_is_what_validate_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("bad.yaml#1 SipTrunk tls: invalid, 1 error")
    sample = lines[start:lines.index("```", start)]
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: sip.bolna.ai/v1alpha1\nkind: SipTrunk\nmetadata:\n  name: tls\n"
        "spec:\n  provider: twilio\n  authType: ip-based\n  mediaEncryption: no\n"
        "  gateways:\n  - gatewayAddress: your-trunk.pstn.twilio.com\n"
        "  ipIdentifiers:\n  - ipAddress: 54.172.60.0/30\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "bad.yaml"]) == 1
    printed = capsys.readouterr()
    assert (printed.out + printed.err).splitlines() == sample
