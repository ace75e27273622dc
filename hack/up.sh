#!/usr/bin/env bash
# Set up and run the main job: install the operator, then validate the example
# SipTrunks and print them as the apiserver would store them (defaults filled in).
set -euo pipefail
cd "$(dirname "$0")/.."

hack/setup.sh python
echo "==> validating examples/"
.venv/bin/bolna-sip-operator validate -o yaml examples/
