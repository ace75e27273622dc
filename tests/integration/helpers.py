"""Waiting on what a user would see, shared by the operator's integration tests."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kube_client import admin_api_client
from bolna_devenv.operator_process import OperatorProcess
from bolna_emulator.process import EmulatorProcess
from bolna_sip_operator.reconcile.drift import ROUND_DONE
from bolna_sip_operator.reconcile.status_owner import StatusOwner
from tests.corpus import IP_BASED_SPEC, manifest
from tests.integration.apiserver import Trunks, create_namespace


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0,
             interval: float = 0.2) -> Any:
    """Poll until ``check`` returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def condition(trunk: dict[str, Any], type_: str) -> dict[str, Any]:
    """A condition of the trunk, or an empty dict."""
    for item in (trunk.get("status") or {}).get("conditions") or ():
        if item["type"] == type_:
            return dict(item)
    return {}


def wait_condition(trunks: Trunks, namespace: str, name: str, type_: str, status: str,
                   timeout: float = 30.0) -> dict[str, Any]:
    """The trunk once ``type_`` has ``status`` for its current generation."""
    def check() -> dict[str, Any] | None:
        trunk = trunks.get(namespace, name)
        found = condition(trunk, type_)
        current = found.get("observedGeneration") == trunk["metadata"]["generation"]
        return trunk if found.get("status") == status and current else None
    return wait_for(f"{namespace}/{name} {type_}={status}", check, timeout)  # type: ignore[no-any-return]


def exists(trunks: Trunks, namespace: str, name: str) -> bool:
    try:
        trunks.get(namespace, name)
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _gone(trunks: Trunks, namespace: str) -> bool:
    return not exists(trunks, namespace, "warm-up")


def warm_up(control_plane: ControlPlane, emulator: EmulatorProcess, prefix: str = "op",
            spec: dict[str, Any] | None = None) -> None:
    """Wait until the operator reconciles a trunk end to end, then forget it in Bolna.

    Kopf reports live before its namespace observer has listed namespaces; a namespace
    created in that gap was seen to be missed. Tests start once one trunk is Ready.
    """
    with admin_api_client(control_plane) as api:
        trunks = Trunks(client.CustomObjectsApi(api))
        for _attempt in range(4):
            name = create_namespace(api, f"{prefix}-warmup")
            trunks.create(name, manifest({**(spec or IP_BASED_SPEC), "name": name},
                                         name="warm-up"))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if condition(trunks.get(name, "warm-up"), "Ready").get("status") == "True":
                    break
                time.sleep(0.5)
            else:
                continue
            trunks.api.delete_namespaced_custom_object("sip.bolna.ai", "v1alpha1", name,
                                                       "siptrunks", "warm-up")
            wait_for("the warm-up trunk to go", functools.partial(_gone, trunks, name))
            break
        else:
            last = trunks.get(name, "warm-up").get("status")
            pytest.fail(f"the operator never made a first trunk Ready; last status: {last}")
    emulator.reset()


class MemoryStatuses:
    """Status as the operator's status owner writes it, kept in memory, for tests of the
    SIP edge alone (no apiserver): merge patches applied to a dict per object."""

    def __init__(self) -> None:
        self.by_name: dict[tuple[str, str], dict[str, Any]] = {}

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any],
                           **_: Any) -> None:
        stored = self.by_name.setdefault((namespace, name), {})
        for key, value in status.items():
            if value is None:
                stored.pop(key, None)
            else:
                stored[key] = value

    def owner(self) -> StatusOwner:
        """A status owner (SIP edge managed) that writes here."""
        return StatusOwner(self, edge_managed=True)

    def dispatcher_synced(self) -> dict[tuple[str, str], str]:
        return {key: next((c["reason"] for c in s.get("conditions", [])
                           if c["type"] == "DispatcherSynced"), "")
                for key, s in self.by_name.items()}


def after_drift_rounds(operator: OperatorProcess, rounds: int = 2,
                       timeout: float = 120.0) -> None:
    """Return once the operator's drift loop has finished ``rounds`` more rounds (its
    DEBUG line ``ROUND_DONE``): the signal after which "nothing happened" may be
    asserted, never a bare sleep. Every round looked at every trunk, and the work a
    round queued had at least one more round's time to run."""
    start = operator.log().count(ROUND_DONE)
    wait_for(f"{rounds} more drift round(s) of the operator", lambda: (
        operator.log().count(ROUND_DONE) >= start + rounds), timeout=timeout)


@contextlib.contextmanager
def running_operator(control_plane: ControlPlane, emulator: EmulatorProcess, log_dir: Path,
                     *, token: str, prefix: str, drift_interval: float,
                     extra_args: tuple[str, ...] = ()) -> Iterator[OperatorProcess]:
    """``bolna-sip-operator run`` against the test apiserver and the emulator, watching
    ``<prefix>-*`` and warmed up (one trunk reconciled end to end) before it is used."""
    process = OperatorProcess(
        kubeconfig=control_plane.kubeconfig, bolna_url=emulator.url, token=token,
        log_path=log_dir / "operator.log", drift_interval=drift_interval,
        extra_args=("--namespace", f"{prefix}-*", *extra_args))
    process.start()
    try:
        warm_up(control_plane, emulator, prefix=prefix)
        yield process
    finally:
        process.stop()
