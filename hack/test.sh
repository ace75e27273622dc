#!/usr/bin/env bash
# The test suite, tier by tier: setup (idempotent, only what the chosen tiers need),
# lint, types, then each tier's tests, with its time and its slowest tests.
#
#   hack/test.sh                          every tier (the README's test command; .ci/run)
#   hack/test.sh --tier unit              one tier, or several: --tier unit,emulator
#   hack/test.sh --tier unit -k plan      arguments after the options go to pytest
#   hack/test.sh --no-lint --tier unit    skip ruff and mypy (a quick loop)
#
# Tiers (tests/conftest.py gives each test the marker of its folder), and what each
# sets up through hack/setup.sh:
#   unit         python   pure tests: no process, no socket           (~20 s warm)
#   emulator     python   the Bolna emulator over HTTP, the wheel
#   integration  stack    a real kube-apiserver and etcd, Kamailio, sipp
#   chart        all      + helm, promtool, gitops-judge
#   cluster      cluster  + Docker, a kind cluster, the project's images
#
# Every tier that ran is summed up at the end: its time, and one line of counts for
# the whole run. Any tier failing fails the run, after the others have run. A Docker
# engine that this run's setup started is stopped at the end; the kind cluster of the
# cluster tier is deleted by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

all_tiers=(unit emulator integration chart cluster)
tiers=("${all_tiers[@]}")
lint=1
while [ $# -gt 0 ]; do
  case "$1" in
    --tier) IFS=, read -r -a tiers <<<"${2:?--tier needs a tier}"; shift 2 ;;
    --tier=*) IFS=, read -r -a tiers <<<"${1#--tier=}"; shift ;;
    --no-lint) lint=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
setup=python
for tier in "${tiers[@]}"; do
  case "$tier" in
    unit|emulator) ;;
    integration) [ "$setup" = python ] && setup=stack ;;
    chart) [ "$setup" != cluster ] && setup=all ;;
    cluster) setup=cluster ;;
    *) echo "hack/test.sh: no tier '$tier' (tiers: ${all_tiers[*]})" >&2; exit 2 ;;
  esac
done

docker_was_running=0
docker info >/dev/null 2>&1 && docker_was_running=1
stop_docker() {
  if [ "$docker_was_running" = 0 ] && [ "$setup" = cluster ]; then
    hack/install-docker.sh --stop-if-started-here || true
  fi
}
trap stop_docker EXIT

clock() { date +%s; }
started=$(clock)
hack/setup.sh "$setup"
export PATH="$PWD/.venv/bin:$PATH"
results=.test-results
rm -rf "$results" && mkdir -p "$results"
summary=()

if [ "$lint" = 1 ]; then
  echo "==> ruff"
  ruff check operator tests bench
  echo "==> mypy"
  mypy
fi

failed=0
for tier in "${tiers[@]}"; do
  echo "==> pytest: the $tier tier"
  tier_started=$(clock)
  status=0
  pytest -m "$tier" --durations=10 --junitxml="$results/$tier.xml" "$@" || status=$?
  seconds=$(( $(clock) - tier_started ))
  case "$status" in
    0) outcome=passed ;;
    5) outcome="no test selected" ;;  # a -k that selects nothing in this tier
    *) outcome="FAILED (pytest exit $status)"; failed=1 ;;
  esac
  summary+=("$(printf '%-12s %5d s  %s' "$tier" "$seconds" "$outcome")")
done

echo "==> tiers (setup, lint and types included in the total)"
printf '    %s\n' "${summary[@]}"
printf '    %-12s %5d s\n' total "$(( $(clock) - started ))"
# One closing line for the whole run, summed over the tiers' JUnit reports.
python3 - "$results" <<'PY'
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for report in sorted(Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(report).getroot().iter("testsuite"):
        for key in counts:
            counts[key] += int(suite.get(key, 0))
failed = counts["failures"] + counts["errors"]
passed = counts["tests"] - failed - counts["skipped"]
print(f"{passed} passed, {failed} failed, {counts['skipped']} skipped")
PY
exit "$failed"
