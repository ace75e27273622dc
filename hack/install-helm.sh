#!/usr/bin/env bash
# Build the helm CLI from its Go module, once per machine, and print its path.
#
#   hack/install-helm.sh          build if missing; last line of stdout: the helm binary
#
# There are no release downloads here, so helm is built with 'go install' from the Go
# module proxy (about two minutes cold on 2 cores). The binary is cached under
# ${BOLNA_CACHE_DIR:-~/.cache/bolna-sip-operator}/helm-<version>/bin and reused.
set -euo pipefail

HELM_VERSION="v3.22.0"   # helm.sh/helm/v3

case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: hack/install-helm.sh [--help]" >&2; exit 2 ;;
esac

helm=$("$(dirname "$0")/go-install.sh" helm.sh/helm/v3/cmd/helm "$HELM_VERSION" | tail -n 1)
"$helm" version --short >&2
echo "$helm"
