"""The local stack's examples: valid, marked as such, and pointing only at its gateways.

``hack/up.sh`` applies ``examples/local/`` and waits for every SipTrunk to be Ready, so
a gateway anywhere but the stack's two sipp peers on 127.0.0.1 would never be.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bolna_devenv.stack import DEFAULT_GATEWAY_PORTS
from bolna_sip_operator.cli import main

LOCAL = Path(__file__).parents[2] / "examples" / "local"
FILES = sorted(LOCAL.glob("*.yaml"))


def test_validate_accepts_the_local_examples() -> None:
    assert len(FILES) >= 2
    assert main(["validate", "-q", str(LOCAL)]) == 0


def test_each_file_says_it_is_for_the_local_stack() -> None:
    for path in FILES:
        first = path.read_text().splitlines()[0]
        assert first.startswith("#") and "local stack" in first, path


def test_gateways_are_the_stacks_sipp_peers_and_both_are_used() -> None:
    ports: set[int] = set()
    kinds: set[str] = set()
    for path in FILES:
        for document in yaml.safe_load_all(path.read_text()):
            if not document or document["kind"] != "SipTrunk":
                continue
            spec = document["spec"]
            kinds.add(spec["authType"])
            assert "namespace" not in document["metadata"]
            for gateway in spec["gateways"]:
                assert gateway["gatewayAddress"] == "127.0.0.1"
                ports.add(gateway["port"])
            for identifier in spec.get("ipIdentifiers", ()):
                assert identifier["ipAddress"].startswith("127.")
    assert ports == set(DEFAULT_GATEWAY_PORTS)
    assert kinds == {"userpass", "ip-based"}
