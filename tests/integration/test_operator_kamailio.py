"""The operator keeps Kamailio loaded with each SipTrunk's gateways and reports their
health: real kube-apiserver, real Kamailio from Debian, real SIP peers (sipp), the Bolna
emulator, and the operator process. Assertions read Kamailio over JSON-RPC, the
SipTrunk's status and Events, and which gateway a call reached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from bolna_devenv.control_plane import ControlPlane
from bolna_devenv.kamailio import Kamailio
from bolna_devenv.operator_process import OperatorProcess, free_port
from bolna_devenv.sip_peer import SipPeer, place_call
from bolna_emulator.process import EmulatorProcess
from tests.corpus import IP_BASED_SPEC, manifest
from tests.gitops import judge
from tests.integration.apiserver import Trunks, create_namespace
from tests.integration.helpers import condition, exists, wait_condition, wait_for, warm_up
from tests.monitoring import (
    Scrape,
    alert_cases,
    alerts,
    as_promql,
    chart_helm,
    check_rules,
    dashboard_queries,
    metric_names,
    require_promtool,
    rule_groups,
    run_rule_tests,
    unit_tests,
)

pytestmark = pytest.mark.integration
TOKEN = "kamailio-test-token"
METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for this module's processes."""
    return tmp_path_factory.mktemp("edge")


@pytest.fixture(scope="module")
def kamailio(workdir: Path) -> Iterator[Kamailio]:
    """Kamailio probing every second, failing a gateway after two lost probes."""
    with Kamailio(workdir / "kamailio", ping_interval=1, probing_threshold=2,
                  fr_timer_ms=1000, reload_delta=1) as edge:
        yield edge


@pytest.fixture(scope="module")
def gateways(workdir: Path) -> Iterator[tuple[SipPeer, SipPeer]]:
    """Two carrier gateways that answer OPTIONS and INVITE."""
    with SipPeer(workdir / "gw1", name="gw1") as first, \
            SipPeer(workdir / "gw2", name="gw2") as second:
        yield first, second


@pytest.fixture(scope="module")
def operator(control_plane: ControlPlane, crd: None, kamailio: Kamailio, workdir: Path,
             gateways: tuple[SipPeer, SipPeer]) -> Iterator[OperatorProcess]:
    """The operator with the SIP edge on, watching ``opk-*`` namespaces."""
    with EmulatorProcess(tokens=[TOKEN]) as bolna:
        process = OperatorProcess(
            kubeconfig=control_plane.kubeconfig, bolna_url=bolna.url, token=TOKEN,
            log_path=workdir / "operator.log", drift_interval=30,
            extra_args=("--namespace", "opk-*", "--kamailio-rpc", kamailio.rpc_url,
                        "--dispatcher-file", str(kamailio.dispatcher_file),
                        "--address-file", str(kamailio.address_file),
                        "--reload-delta", "1", "--health-interval", "1",
                        "--probe-settle", "4", "--metrics-port", str(METRICS_PORT)))
        process.start()
        try:
            first, second = gateways
            warm_up(control_plane, bolna, prefix="opk",
                    spec=_trunk("warm-up", first, second)["spec"])
            yield process
        finally:
            process.stop()


@pytest.fixture
def namespace(api_client: client.ApiClient) -> str:
    """A fresh namespace the operator watches."""
    return create_namespace(api_client, "opk")


def _trunk(name: str, first: SipPeer, second: SipPeer, **changes: Any) -> dict[str, Any]:
    return manifest({**IP_BASED_SPEC, "qualifyFrequency": 1, "gateways": [
        {"gatewayAddress": "127.0.0.1", "port": second.port, "priority": 2},
        {"gatewayAddress": "127.0.0.1", "port": first.port, "priority": 1}], **changes},
        name=name)


def test_gateways_are_loaded_as_one_set_and_become_healthy(
        operator: OperatorProcess, kamailio: Kamailio, gateways: tuple[SipPeer, SipPeer],
        trunks: Trunks, namespace: str) -> None:
    first, second = gateways
    trunks.create(namespace, _trunk("edge", first, second))
    trunk = wait_condition(trunks, namespace, "edge", "Ready", "True", timeout=60)
    status = trunk["status"]
    set_id = status["dispatcher"]["setId"]
    assert condition(trunk, "DispatcherSynced")["reason"] == "Loaded"
    assert condition(trunk, "GatewaysHealthy")["reason"] == "AllHealthy"
    assert status["healthyGateways"] == "2/2"
    assert [(g["port"], g["priority"], g["health"]) for g in status["gateways"]] == [
        (first.port, 1, "Healthy"), (second.port, 2, "Healthy")]
    listed = kamailio.rpc("dispatcher.list")
    [record] = [r["SET"] for r in listed["RECORDS"] if r["SET"]["ID"] == set_id]
    by_uri = {t["DEST"]["URI"]: t["DEST"] for t in record["TARGETS"]}
    assert by_uri[f"sip:127.0.0.1:{first.port}"]["PRIORITY"] == 2
    assert by_uri[f"sip:127.0.0.1:{second.port}"]["PRIORITY"] == 1
    assert f"trunk={namespace}/edge" in by_uri[f"sip:127.0.0.1:{first.port}"]["ATTRS"]["BODY"]


def _with_health(trunk: dict[str, Any], healths: list[str]) -> dict[str, Any] | None:
    seen = [g["health"] for g in (trunk.get("status") or {}).get("gateways") or ()]
    return trunk if seen == healths else None


def test_a_gateway_that_stops_answering_is_reported_and_recovers(
        operator: OperatorProcess, gateways: tuple[SipPeer, SipPeer], trunks: Trunks,
        api_client: client.ApiClient, namespace: str) -> None:
    first, second = gateways
    trunks.create(namespace, _trunk("outage", first, second))
    wait_condition(trunks, namespace, "outage", "Ready", "True", timeout=60)
    first.pause()
    try:
        trunk = wait_for("gateway 1 Unhealthy", lambda: _with_health(
            trunks.get(namespace, "outage"), ["Unhealthy", "Healthy"]), timeout=30)
        assert trunk["status"]["healthyGateways"] == "1/2"
        assert condition(trunk, "GatewaysHealthy")["reason"] == "SomeUnhealthy"
        assert condition(trunk, "Ready")["status"] == "True"
        wait_for("a GatewayDown Event", lambda: "GatewayDown" in [
            e.reason for e in client.CoreV1Api(api_client).list_namespaced_event(
                namespace).items])
    finally:
        first.resume()
    wait_for("gateway 1 Healthy again", lambda: trunks.get(namespace, "outage")[
        "status"].get("healthyGateways") == "2/2", timeout=30)
    wait_for("a GatewayUp Event", lambda: "GatewayUp" in [
        e.reason for e in client.CoreV1Api(api_client).list_namespaced_event(
            namespace).items])


def test_a_call_reaches_priority_one_and_fails_over_to_priority_two(
        operator: OperatorProcess, kamailio: Kamailio, gateways: tuple[SipPeer, SipPeer],
        trunks: Trunks, namespace: str, workdir: Path) -> None:
    first, second = gateways
    trunks.create(namespace, _trunk("calls", first, second))
    trunk = wait_condition(trunks, namespace, "calls", "Ready", "True", timeout=60)
    set_id = trunk["status"]["dispatcher"]["setId"]
    before = (first.invites_received(), second.invites_received())
    assert place_call(kamailio.sip_port, set_id, workdir=workdir / "uac1") == 200
    assert (first.invites_received(), second.invites_received()) == (before[0] + 1, before[1])
    first.pause()
    try:
        assert place_call(kamailio.sip_port, set_id, workdir=workdir / "uac2") == 200
    finally:
        first.resume()
    assert second.invites_received() == before[1] + 1


def test_inactive_trunks_are_disabled_and_deleted_trunks_removed(
        operator: OperatorProcess, kamailio: Kamailio, gateways: tuple[SipPeer, SipPeer],
        trunks: Trunks, namespace: str) -> None:
    first, second = gateways
    trunks.create(namespace, _trunk("pause", first, second))
    trunk = wait_condition(trunks, namespace, "pause", "Ready", "True", timeout=60)
    set_id = trunk["status"]["dispatcher"]["setId"]
    trunks.patch(namespace, "pause", {"spec": {"active": False}})

    def flags() -> list[str]:
        listed = kamailio.rpc("dispatcher.list")
        return [t["DEST"]["FLAGS"] for r in listed["RECORDS"] if r["SET"]["ID"] == set_id
                for t in r["SET"]["TARGETS"]]

    wait_for("both gateways admin-disabled", lambda: flags() and all(
        f.startswith("D") for f in flags()), timeout=30)
    trunks.api.delete_namespaced_custom_object("sip.bolna.ai", "v1alpha1", namespace,
                                               "siptrunks", "pause")
    wait_for("the SipTrunk to go", lambda: not exists(trunks, namespace, "pause"))
    wait_for("its set to leave Kamailio", lambda: not flags(), timeout=30)


def test_ip_identifiers_are_loaded_as_permissions_entries(
        operator: OperatorProcess, kamailio: Kamailio, gateways: tuple[SipPeer, SipPeer],
        trunks: Trunks, namespace: str) -> None:
    first, second = gateways
    trunks.create(namespace, _trunk("acl", first, second, ipIdentifiers=[
        {"ipAddress": "203.0.113.0/24"}, {"ipAddress": "198.51.100.7"}]))
    trunk = wait_condition(trunks, namespace, "acl", "DispatcherSynced", "True", timeout=60)
    set_id = trunk["status"]["dispatcher"]["setId"]
    dumped = str(kamailio.rpc("permissions.addressDump")) + str(
        kamailio.rpc("permissions.subnetDump"))
    assert "203.0.113.0" in dumped and "198.51.100.7" in dumped
    assert str(set_id) in dumped


def test_a_killed_and_restarted_kamailio_gets_its_entries_verified_again(
        operator: OperatorProcess, kamailio: Kamailio, gateways: tuple[SipPeer, SipPeer],
        trunks: Trunks, namespace: str) -> None:
    first, second = gateways
    trunks.create(namespace, _trunk("restart", first, second))
    trunk = wait_condition(trunks, namespace, "restart", "DispatcherSynced", "True",
                           timeout=60)
    set_id = trunk["status"]["dispatcher"]["setId"]
    kamailio.kill()
    try:
        trunk = wait_for("DispatcherSynced Unreachable", lambda: (
            condition(t := trunks.get(namespace, "restart"), "DispatcherSynced").get(
                "reason") == "Unreachable" and t), timeout=30)
        assert condition(trunk, "Ready")["status"] == "False"
    finally:
        kamailio.restart()
    wait_condition(trunks, namespace, "restart", "DispatcherSynced", "True", timeout=60)
    listed = kamailio.rpc("dispatcher.list")
    assert any(r["SET"]["ID"] == set_id for r in listed["RECORDS"])
    wait_condition(trunks, namespace, "restart", "Ready", "True", timeout=60)


def test_metrics_show_reconciles_bolna_calls_reloads_and_gateway_health(
        operator: OperatorProcess, gateways: tuple[SipPeer, SipPeer], trunks: Trunks,
        namespace: str) -> None:
    first, second = gateways
    trunks.create(namespace, _trunk("metrics", first, second))
    wait_condition(trunks, namespace, "metrics", "Ready", "True", timeout=60)
    text = httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=10).text
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
               for line in text.splitlines() if line and not line.startswith("#")}
    assert samples['bolna_sip_reconciles_total{reason="",result="success"}'] >= 1
    assert samples['bolna_sip_bolna_requests_total{method="POST",status="201"}'] >= 1
    assert any(k.startswith("bolna_sip_kamailio_reloads_total{") and v >= 1
               for k, v in samples.items())
    gateway = (f'bolna_sip_gateway_healthy{{gateway="sip:127.0.0.1:{first.port}",'
               f'kind="SipTrunk",name="metrics",namespace="{namespace}"}}')
    assert samples[gateway] == 1.0


# ---- the chart's alerts and dashboard, against this operator's real /metrics ----------

@pytest.fixture(scope="module")
def scrape(operator: OperatorProcess, gateways: tuple[SipPeer, SipPeer], trunks: Trunks,
           api_client: client.ApiClient) -> Scrape:
    """The operator's /metrics once a trunk is Ready: every family has samples then
    (Kamailio's counters start at 0 for each replica the operator sees)."""
    first, second = gateways
    namespace = create_namespace(api_client, "opk")
    trunks.create(namespace, _trunk("scraped", first, second))
    wait_condition(trunks, namespace, "scraped", "Ready", "True", timeout=60)
    return Scrape.parse(httpx.get(f"http://127.0.0.1:{METRICS_PORT}/metrics",
                                  timeout=10).text)


def test_scrape_has_the_metrics_of_alerts_and_dashboards(scrape: Scrape) -> None:
    """The series the alerts are built on exist, with the labels they join on."""
    assert {"bolna_sip_trunk_condition", "bolna_sip_operator_acting",
            "bolna_sip_gateway_healthy", "bolna_sip_kamailio_reload_failures_total",
            "bolna_sip_kamailio_verification_failures_total",
            "bolna_sip_bolna_request_seconds_bucket", "bolna_sip_edge_flood_bans_total",
            "bolna_sip_edge_flood_drops_total", "bolna_sip_edge_scanner_drops_total",
            "bolna_sip_edge_call_limit_refusals_total",
            "bolna_sip_edge_gateway_retry_after_total"} <= scrape.names()
    assert scrape.labels["bolna_sip_edge_flood_drops_total"] == {frozenset({"replica"})}
    assert scrape.labels["bolna_sip_trunk_condition"] == {
        frozenset({"kind", "namespace", "name", "condition", "status"})}


def test_alert_rules_read_exported_metrics_and_pass_promtool(
        scrape: Scrape, tmp_path: Path) -> None:
    """Every alert reads only scraped names; promtool checks the rules, and its unit
    tests (input series named and labelled as scraped) fire and stay silent per alert."""
    manifests = chart_helm(tmp_path / "helm").template(
        values={"metrics.prometheusRule.enabled": True})
    groups = rule_groups(manifests)
    rules = alerts(groups)
    for name, rule in rules.items():
        used = metric_names(rule["expr"])
        assert used, name
        assert used <= scrape.names(), f"{name} reads {sorted(used - scrape.names())}"
    promtool = require_promtool()
    check_rules(promtool, groups, tmp_path / "check")
    cases = alert_cases(scrape, job="edge-bolna-sip-operator-metrics")
    tested = {alert for case in cases for _, alert, _ in case.expect}
    assert tested == set(rules), "every alert has a case"
    for alert in rules:
        outcomes = [bool(expected) for case in cases for _, name, expected in case.expect
                    if name == alert]
        assert True in outcomes and False in outcomes, f"{alert}: fire and silent cases"
    run_rule_tests(promtool, groups, unit_tests(rules, cases), tmp_path / "unit")


def test_dashboard_queries_read_exported_metrics(scrape: Scrape, tmp_path: Path) -> None:
    """Every panel's PromQL parses (promtool, as recording rules) and reads only names
    the operator exports."""
    manifests = chart_helm(tmp_path / "helm").template(
        values={"metrics.grafanaDashboard.enabled": True})
    queries = [as_promql(query) for query in dashboard_queries(manifests)]
    for query in queries:
        used = metric_names(query)
        assert used and used <= scrape.names(), f"{query} reads {used - scrape.names()}"
    check_rules(require_promtool(), [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": query}
        for i, query in enumerate(queries)]}], tmp_path / "check")


class _Watch:
    """Samples a trunk's Ready condition every 100 ms in a thread, until stopped."""

    def __init__(self, trunks: Trunks, namespace: str, name: str) -> None:
        self.samples: list[tuple[int, str, str, list[int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(trunks, namespace, name),
                                        daemon=True)
        self._thread.start()

    def _run(self, trunks: Trunks, namespace: str, name: str) -> None:
        while not self._stop.is_set():
            trunk = trunks.get(namespace, name)
            ready = condition(trunk, "Ready")
            ports = [g["port"] for g in (trunk.get("status") or {}).get("gateways") or ()]
            self.samples.append((trunk["metadata"]["generation"], ready.get("status", ""),
                                 ready.get("reason", ""), ports))
            time.sleep(0.1)

    def stop(self) -> list[tuple[int, str, str, list[int]]]:
        self._stop.set()
        self._thread.join()
        return self.samples


def test_status_follows_the_edge_and_never_runs_ahead_of_it(
        operator: OperatorProcess, gateways: tuple[SipPeer, SipPeer], trunks: Trunks,
        namespace: str) -> None:
    """Ready means what Kamailio holds and probes, for the current generation; a reload
    for another trunk does not flap this one; all gateways down is Failed/Degraded."""
    first, second = gateways
    trunks.create(namespace, _trunk("steady", first, second))
    trunk = wait_condition(trunks, namespace, "steady", "Ready", "True", timeout=60)
    [verdict] = judge([trunk])
    assert (verdict.kstatus.status, verdict.argocd.status) == ("Current", "Healthy")

    # Another trunk arrives: Kamailio reloads, "steady" keeps Ready throughout.
    watch = _Watch(trunks, namespace, "steady")
    trunks.create(namespace, _trunk("newcomer", first, second))
    wait_condition(trunks, namespace, "newcomer", "Ready", "True", timeout=60)
    time.sleep(2)  # a few health polls after the reload
    samples = watch.stop()
    assert samples and all(s[1] == "True" for s in samples), [
        s for s in samples if s[1] != "True"]

    # Its gateways move to ports where nothing answers: Ready is never True for the new
    # generation, and the dead end reads Failed and Degraded.
    dead = [free_port(), free_port()]
    watch = _Watch(trunks, namespace, "steady")
    trunks.patch(namespace, "steady", {"spec": {"gateways": [
        {"gatewayAddress": "127.0.0.1", "port": dead[0], "priority": 1},
        {"gatewayAddress": "127.0.0.1", "port": dead[1], "priority": 2}]}})
    stalled = wait_condition(trunks, namespace, "steady", "Stalled", "True", timeout=60)
    samples = watch.stop()
    assert condition(stalled, "Ready")["reason"] == "NoHealthyGateway"
    assert sorted(g["port"] for g in stalled["status"]["gateways"]) == sorted(dead)
    assert not [s for s in samples if s[0] == 2 and s[1] == "True"], samples
    [verdict] = judge([stalled])
    assert (verdict.kstatus.status, verdict.argocd.status) == ("Failed", "Degraded")
