#!/usr/bin/env bash
# Build gitops-judge (hack/tools/gitops-judge) once per version of its sources, and print
# its path.
#
#   hack/install-gitops-judge.sh      build if missing; last line of stdout: the binary
#
# gitops-judge runs kstatus' status.Compute (sigs.k8s.io/cli-utils, what Flux waits on)
# and Argo CD v2's own health code (gitops-engine + argo-cd/v2/util/lua, with the
# SipTrunk health Lua as a resource override) on objects given as JSON; tests/gitops.py
# calls it. It is built with the pinned go.mod/go.sum beside its source, through the
# configured Go module proxy (from empty Go caches about 6 minutes on 2 cores and 155 MB
# of module downloads, mostly Argo CD's and Kubernetes' packages), and cached under
# ${BOLNA_CACHE_DIR:-~/.cache/bolna-sip-operator}/gitops-judge-<hash of the sources>/bin;
# a cached build returns at once.
set -euo pipefail

case "${1:-}" in
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: hack/install-gitops-judge.sh [--help]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
src=hack/tools/gitops-judge
# The key covers every file the build reads: go.mod, go.sum and the Go sources. The
# same computation is in tests/gitops.py (source_hash), which looks the binary up.
hash=$(cd "$src" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) \
  | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
cache=${BOLNA_CACHE_DIR:-$HOME/.cache/bolna-sip-operator}
bin_dir="$cache/gitops-judge-$hash/bin"
if [ -x "$bin_dir/gitops-judge" ]; then
  echo "$bin_dir/gitops-judge"
  exit 0
fi
command -v go >/dev/null || { echo "install-gitops-judge: go is required" >&2; exit 1; }
echo "install-gitops-judge: building gitops-judge $hash from Go modules" \
  "(once per version of $src; up to about 6 minutes)" >&2
mkdir -p "$bin_dir"
tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
(cd "$src" && GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
  go build -trimpath -ldflags="-s -w" -o "$tmp/gitops-judge" .) >&2
mv "$tmp/gitops-judge" "$bin_dir/gitops-judge"
echo "install-gitops-judge: built in $((SECONDS - start))s" >&2
echo "$bin_dir/gitops-judge"
