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

cache=${BOLNA_CACHE_DIR:-$HOME/.cache/bolna-sip-operator}
bin_dir="$cache/helm-$HELM_VERSION/bin"
helm="$bin_dir/helm"
if [ -x "$helm" ] && "$helm" version --short >/dev/null 2>&1; then
  echo "$helm"
  exit 0
fi
command -v go >/dev/null || { echo "install-helm: go is required to build helm" >&2; exit 1; }
echo "install-helm: building helm $HELM_VERSION from Go modules (a few minutes, once)" >&2
mkdir -p "$bin_dir"
tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-buildvcs=false" GOBIN="$tmp" \
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
mv "$tmp/helm" "$helm"
"$helm" version --short >&2
echo "$helm"
