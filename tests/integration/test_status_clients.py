"""What the real kubectl makes of a Ready condition left from an older generation.

Without an operator: the status is written by hand the way the operator writes it, then
the spec changes, so the stored Ready condition describes the previous generation.
"""

from __future__ import annotations

import json

from tests.corpus import USERPASS_SPEC, manifest
from tests.gitops import judge
from tests.integration.apiserver import Trunks
from tests.kubectl import Kubectl


def test_kubectl_wait_does_not_take_an_old_generation_s_ready(
        trunks: Trunks, namespace: str, kubectl: Kubectl) -> None:
    trunks.create(namespace, manifest(dict(USERPASS_SPEC), name="stale"))
    ready = {"status": {"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "True", "reason": "Available", "message": "ok",
         "observedGeneration": 1, "lastTransitionTime": "2026-11-29T05:00:00Z"}]}}
    kubectl.run("patch", "-n", namespace, "sipt/stale", "--subresource=status",
                "--type=merge", "-p", json.dumps(ready))
    assert kubectl.run("wait", "-n", namespace, "sipt/stale", "--for=condition=Ready",
                       "--timeout=2s", check=False).returncode == 0
    trunks.patch(namespace, "stale", {"spec": {"qualifyFrequency": 0}})
    stale = trunks.get(namespace, "stale")
    assert stale["metadata"]["generation"] == 2
    waited = kubectl.run("wait", "-n", namespace, "sipt/stale", "--for=condition=Ready",
                         "--timeout=2s", check=False)
    [verdict] = judge([stale])
    assert verdict.kstatus.status == "InProgress"
    assert verdict.argocd.status == "Progressing"
    # Recorded, not wished: what this kubectl does with a condition whose
    # observedGeneration is older than the object's generation.
    assert waited.returncode != 0, "kubectl wait took the older generation's Ready"
