"""The chart's alerts and dashboard against what the operator really exports.

Metric names and label sets come from a scrape of the running operator (``Scrape``);
the rules and the dashboard come from ``helm template`` of the chart; ``promtool`` (the
pinned build of ``hack/install-promtool.sh``) checks the rules and runs unit tests whose
input series are built from the scrape, so a renamed metric or label fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bolna_devenv.helm import HelmNotFoundError, find_helm
from bolna_devenv.promtool import PromtoolNotFoundError, find_promtool
from tests.chart.chart import Helm, Manifests

#: Labels Prometheus adds to every scraped series (the target's), which the rules join on.
TARGET_LABELS = ("instance", "job")
_SELECTOR_NAME = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{")
_OUR_NAME = re.compile(r"\bbolna_sip_[a-z0-9_]+\b")
_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


@dataclass
class Scrape:
    """Sample names of one /metrics text, each with the label names it carries."""

    labels: dict[str, set[frozenset[str]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        """Parse the Prometheus text format (the client library's own parser)."""
        scrape = cls()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                scrape.labels.setdefault(sample.name, set()).add(frozenset(sample.labels))
        return scrape

    def names(self) -> set[str]:
        """Every sample name: counters with _total, histograms with _bucket/_sum/_count."""
        return set(self.labels)

    def series(self, metric: str, /, **labels: str) -> str:
        """A series as promtool writes it: ``metric`` with ``labels`` and target labels.

        ``labels`` must be exactly the label names the operator exported for ``metric``
        (one of its label sets), so a series the operator cannot produce is refused.
        """
        assert metric in self.labels, f"{metric} is not in the scrape: {sorted(self.labels)}"
        wanted = frozenset(k for k in labels if k not in TARGET_LABELS)
        assert wanted in self.labels[metric], (
            f"{metric} is exported with labels {sorted(map(sorted, self.labels[metric]))}, "
            f"not {sorted(wanted)}")
        assert set(TARGET_LABELS) <= set(labels), f"give {TARGET_LABELS} too"
        inner = ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
        return f"{metric}{{{inner}}}"


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads.

    Every selector in the chart's expressions has braces (the release selector), so a
    name before ``{`` is a metric; any other name of ours is caught too.
    """
    names = {m.group(1) for m in _SELECTOR_NAME.finditer(expr)}
    return names | set(_OUR_NAME.findall(expr))


def require_promtool() -> Path:
    """The pinned promtool; a missing one fails with the command that builds it."""
    try:
        return find_promtool()
    except PromtoolNotFoundError as error:
        pytest.fail(str(error))


def chart_helm(home: Path) -> Helm:
    """The pinned helm; a missing one fails with the command that builds it."""
    try:
        return Helm(find_helm(), home)
    except HelmNotFoundError as error:
        pytest.fail(str(error))


def rule_groups(manifests: Manifests) -> list[dict[str, Any]]:
    """The rule groups of the one PrometheusRule rendered."""
    groups = manifests.one("PrometheusRule")["spec"]["groups"]
    assert isinstance(groups, list) and groups
    return groups


def alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Alerting rules by name."""
    return {rule["alert"]: rule for group in groups for rule in group["rules"]
            if "alert" in rule}


def dashboard_queries(manifests: Manifests) -> list[str]:
    """Every PromQL expression of the dashboard's panels, and its variables' queries."""
    (configmap,) = [c for c in manifests.of_kind("ConfigMap")
                    if c["metadata"]["name"].endswith("-dashboard")]
    (text,) = configmap["data"].values()
    dashboard = json.loads(text)
    queries = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", ())]
    assert queries and all(queries)
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            queries.append(query["query"])
    return queries


def as_promql(query: str) -> str:
    """A dashboard query as plain PromQL: Grafana's variables replaced by values."""
    query = query.replace("$__rate_interval", "5m").replace('"$job"', '".+"')
    label_values = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query)
    return label_values.group(1) + "{}" if label_values else query


def check_rules(promtool: Path, groups: list[dict[str, Any]], where: Path) -> str:
    """``promtool check rules`` on the groups; returns its output, fails with it."""
    where.mkdir(parents=True, exist_ok=True)
    path = where / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    result = subprocess.run([str(promtool), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def expected_annotations(rule: dict[str, Any], labels: dict[str, str],
                         value: str | None = None) -> dict[str, str]:
    """The rule's annotations as Prometheus would fill them for an alert with ``labels``.

    Only the two template forms the chart uses: ``$labels.NAME`` and
    ``$value | humanizePercentage`` (``value`` is the formatted text).
    """
    def fill(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("$labels."):
            return labels[inner.removeprefix("$labels.")]
        assert inner == "$value | humanizePercentage" and value is not None, inner
        return value

    return {key: _TEMPLATE.sub(fill, text) for key, text in rule["annotations"].items()}


@dataclass
class Case:
    """One promtool unit test: input series, and the alerts expected at some times."""

    name: str
    series: list[tuple[str, str]]
    expect: list[tuple[str, str, list[dict[str, str]]]]
    """(eval_time, alertname, [labels of each expected alert, without alertname])."""
    value: str | None = None


def unit_tests(rules: dict[str, dict[str, Any]], cases: Iterable[Case]) -> list[dict[str, Any]]:
    """promtool's ``tests:`` entries; annotations filled from the rules themselves."""
    entries = []
    for case in cases:
        alert_tests = []
        for eval_time, alertname, expected in case.expect:
            rule = rules[alertname]
            alert_tests.append({"eval_time": eval_time, "alertname": alertname, "exp_alerts": [
                {"exp_labels": {**labels, **rule.get("labels", {})},
                 "exp_annotations": expected_annotations(rule, labels, case.value)}
                for labels in expected]})
        entries.append({"name": case.name, "interval": "1m",
                        "input_series": [{"series": s, "values": v} for s, v in case.series],
                        "alert_rule_test": alert_tests})
    return entries


def run_rule_tests(promtool: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]],
               where: Path) -> str:
    """``promtool test rules`` on a generated file; returns its output, fails with it."""
    check_rules(promtool, groups, where)
    path = where / "tests.yaml"
    path.write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m",
                                    "tests": tests}, sort_keys=False), encoding="utf-8")
    result = subprocess.run([str(promtool), "test", "rules", str(path)], cwd=where,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout



def alert_cases(scrape: Scrape, job: str) -> list[Case]:
    """A firing and a silent case for every alert, on series named as scraped.

    Two operator replicas, ``a`` acting and ``b`` standing by (with stale series that
    must not alert). The values are the scenarios; names and label sets are the scrape's.
    """
    a, b = {"instance": "10.0.0.1:9090", "job": job}, {"instance": "10.0.0.2:9090", "job": job}

    def acting(target: dict[str, str]) -> str:
        return scrape.series("bolna_sip_operator_acting", **target)

    def cond(target: dict[str, str], ns: str, name: str, condition: str, now: str,
             values: str | None = None) -> list[tuple[str, str]]:
        """The one-hot series of a condition: ``now`` is 1 (or ``values``), others 0."""
        out = []
        for status in ("True", "False", "Unknown"):
            series = scrape.series("bolna_sip_trunk_condition", kind="SipTrunk",
                                   namespace=ns, name=name,
                                   condition=condition, status=status, **target)
            out.append((series, (values or "1x30") if status == now else "0x30"))
        return out

    def gateway(target: dict[str, str], ns: str, name: str, uri: str, value: int
                ) -> tuple[str, str]:
        return (scrape.series("bolna_sip_gateway_healthy", kind="SipTrunk",
                              namespace=ns, name=name,
                              gateway=uri, **target), f"{value}x30")

    def requests(status: str, per_minute: int, method: str = "PATCH") -> tuple[str, str]:
        return (scrape.series("bolna_sip_bolna_requests_total", method=method, status=status,
                              **a), f"0+{per_minute}x40")

    def trunk(ns: str, name: str) -> dict[str, str]:
        return {"kind": "SipTrunk", "namespace": ns, "name": name}

    replica = "http://10.0.1.5:5090/RPC"
    both = [(acting(a), "1x40"), (acting(b), "0x40")]
    return [
        Case("not Ready for 10 minutes fires; shorter, or only on a standby, does not", [
            *both,
            *cond(a, "voice", "down", "Ready", "False"),
            *cond(a, "voice", "blip", "Ready", "False", "1x5 0x25"),
            *cond(b, "voice", "stale", "Ready", "False"),
            *cond(a, "voice", "stale", "Ready", "True"),
        ], [("5m", "BolnaSipTrunkNotReady", []),
            ("12m", "BolnaSipTrunkNotReady", [trunk("voice", "down")])]),
        Case("Stalled fires; not Stalled does not", [
            *both,
            *cond(a, "voice", "refused", "Stalled", "True"),
            *cond(a, "voice", "fine", "Stalled", "False"),
        ], [("0m", "BolnaSipTrunkStalled", []),
            ("3m", "BolnaSipTrunkStalled", [trunk("voice", "refused")])]),
        Case("one gateway down; every gateway down; probing off is silent", [
            *both,
            gateway(a, "voice", "half", "sip:192.0.2.1:5060", 0),
            gateway(a, "voice", "half", "sip:192.0.2.2:5060", 1),
            *cond(a, "voice", "half", "GatewaysHealthy", "False"),
            gateway(a, "voice", "dark", "sip:192.0.2.3:5060", 0),
            gateway(a, "voice", "dark", "sip:192.0.2.4:5060", 0),
            *cond(a, "voice", "dark", "GatewaysHealthy", "False"),
            gateway(a, "voice", "quiet", "sip:192.0.2.5:5060", 0),
            *cond(a, "voice", "quiet", "GatewaysHealthy", "True"),
            gateway(b, "voice", "fine", "sip:192.0.2.6:5060", 0),
            *cond(b, "voice", "fine", "GatewaysHealthy", "False"),
        ], [("0m", "BolnaSipTrunkAllGatewaysDown", []),
            ("2m", "BolnaSipGatewayDown", []),
            ("2m", "BolnaSipTrunkAllGatewaysDown", [trunk("voice", "dark")]),
            ("5m", "BolnaSipGatewayDown", [
                {**trunk("voice", "half"), "gateway": "sip:192.0.2.1:5060"},
                {**trunk("voice", "dark"), "gateway": "sip:192.0.2.3:5060"},
                {**trunk("voice", "dark"), "gateway": "sip:192.0.2.4:5060"}]),
            ("5m", "BolnaSipTrunkAllGatewaysDown", [trunk("voice", "dark")])]),
        Case("half of Bolna's answers 429 for 20 minutes fires", [
            *both, requests("200", 60), requests("429", 60),
        ], [("10m", "BolnaSipBolnaRateLimited", []),
            ("25m", "BolnaSipBolnaRateLimited", [{}])], value="50%"),
        Case("a few 429s and 404s are neither rate limiting nor errors", [
            *both, requests("200", 60), requests("429", 3), requests("404", 60),
        ], [("25m", "BolnaSipBolnaRateLimited", []), ("25m", "BolnaSipBolnaErrors", [])]),
        Case("half of Bolna's calls failing (5xx or no answer) fires", [
            *both, requests("200", 60), requests("503", 30), requests("ReadTimeout", 30, "GET"),
        ], [("5m", "BolnaSipBolnaErrors", []),
            ("20m", "BolnaSipBolnaErrors", [{}])], value="50%"),
        Case("reloads and verifications failing for long fire; one failure does not", [
            *both,
            (scrape.series("bolna_sip_kamailio_reload_failures_total", replica=replica,
                           table="dispatcher", **a), "0+1x40"),
            (scrape.series("bolna_sip_kamailio_reload_failures_total", replica="old",
                           table="dispatcher", **a), "0 1x40"),
            (scrape.series("bolna_sip_kamailio_verification_failures_total", replica=replica,
                           **a), "0+1x40"),
            (scrape.series("bolna_sip_kamailio_verification_failures_total", replica="old",
                           **a), "0 0 1x40"),
        ], [("25m", "BolnaSipKamailioReloadFailing", [{"replica": replica}]),
            ("25m", "BolnaSipKamailioVerificationFailing", [{"replica": replica}]),
            ("8m", "BolnaSipKamailioReloadFailing", []),
            ("8m", "BolnaSipKamailioVerificationFailing", [])]),
        Case("a sustained flood fires; a short burst and a standby's stale copy do not", [
            *both,
            (scrape.series("bolna_sip_edge_flood_drops_total", replica=replica, **a),
             "0+1200x40"),
            (scrape.series("bolna_sip_edge_flood_drops_total", replica=replica, **b),
             "5000x40"),
            (scrape.series("bolna_sip_edge_flood_drops_total", replica="burst", **a),
             "0+1200x3 3600x37"),
        ], [("5m", "BolnaSipEdgeFlooded", []),
            ("20m", "BolnaSipEdgeFlooded", [{"replica": replica}])]),
        Case("calls refused at a channel limit for 15 minutes fire; a few do not", [
            *both,
            (scrape.series("bolna_sip_edge_call_limit_refusals_total", replica=replica,
                           **a), "0+3x40"),
            (scrape.series("bolna_sip_edge_call_limit_refusals_total", replica="old", **a),
             "0 2 2x40"),
        ], [("10m", "BolnaSipEdgeCallLimitReached", []),
            ("25m", "BolnaSipEdgeCallLimitReached", [{"replica": replica}])]),
        Case("one replica acting is silent", both,
             [("10m", "BolnaSipOperatorNotActing", [])]),
        Case("every replica standing by fires", [
            (acting(a), "1 1 0x20"), (acting(b), "0x20")],
            [("4m", "BolnaSipOperatorNotActing", []),
             ("10m", "BolnaSipOperatorNotActing", [{}])]),
        Case("no operator scraped at all fires", [
            (scrape.series("bolna_sip_reconciles_total", result="success", reason="", **a),
             "0x20")],
            [("10m", "BolnaSipOperatorNotActing", [{"job": job}])]),
    ]
