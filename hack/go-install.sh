#!/usr/bin/env bash
# Build one command from its Go module, once per machine, and print its path. See --help.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: hack/go-install.sh PACKAGE VERSION

Builds the Go command PACKAGE at module version VERSION with 'go install'
(CGO_ENABLED=0, through the configured Go module proxy: there are no release
downloads here) and caches it in

  \${BOLNA_CACHE_DIR:-\$HOME/.cache/bolna-sip-operator}/NAME-VERSION/bin/NAME

where NAME is the last element of PACKAGE. A cached binary is reused at once; a
build goes to a temporary directory first, so an interrupted one leaves nothing
half-written. The last line of stdout is the binary's path:

  kind=\$(hack/go-install.sh sigs.k8s.io/kind v0.33.0 | tail -n1)

Works for modules whose go.mod has no replace directives (helm, kind, crictl,
coredns); Kubernetes' own commands need hack/build-control-plane.sh.
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac
[ $# -eq 2 ] || { usage >&2; exit 2; }

pkg=$1 version=$2
name=${pkg##*/}
cache=${BOLNA_CACHE_DIR:-$HOME/.cache/bolna-sip-operator}
bin_dir="$cache/$name-$version/bin"
if [ -x "$bin_dir/$name" ]; then
  echo "$bin_dir/$name"
  exit 0
fi
command -v go >/dev/null || { echo "go-install: go is required to build $name" >&2; exit 1; }
echo "go-install: building $name $version from Go modules (once per machine)" >&2
mkdir -p "$bin_dir"
tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-buildvcs=false" GOBIN="$tmp" \
  go install -trimpath -ldflags="-s -w" "$pkg@$version" >&2
mv "$tmp/$name" "$bin_dir/$name"
echo "go-install: built $name $version in $((SECONDS - start))s" >&2
echo "$bin_dir/$name"
