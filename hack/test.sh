#!/usr/bin/env bash
# The whole test suite: setup (idempotent), lint, types, unit, integration and cluster tests.
# Integration tests run against a real kube-apiserver and etcd, the cluster tier against a
# real kind cluster running the project's own images; if either cannot start, the suite
# fails (it never passes on unit tests alone).
#
#   hack/test.sh                 everything
#   hack/test.sh -k differential extra arguments go to pytest
#
# A Docker engine that this run's setup started is stopped at the end; the kind cluster
# of the cluster tier is deleted by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

docker_was_running=0
docker info >/dev/null 2>&1 && docker_was_running=1
stop_docker() {
  if [ "$docker_was_running" = 0 ]; then
    hack/install-docker.sh --stop-if-started-here || true
  fi
}
trap stop_docker EXIT

hack/setup.sh cluster
export PATH="$PWD/.venv/bin:$PATH"

echo "==> ruff"
ruff check operator tests bench
echo "==> mypy"
mypy
echo "==> pytest"
pytest "$@"
