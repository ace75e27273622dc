#!/usr/bin/env bash
# The whole test suite: setup (idempotent), lint, types, unit and integration tests.
# Integration tests run against a real kube-apiserver and etcd; if they cannot start,
# the suite fails (it never passes on unit tests alone).
#
#   hack/test.sh                 everything
#   hack/test.sh -k differential extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

hack/setup.sh all
export PATH="$PWD/.venv/bin:$PATH"

echo "==> ruff"
ruff check operator tests bench
echo "==> mypy"
mypy
echo "==> pytest"
exec pytest "$@"
