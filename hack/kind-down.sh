#!/usr/bin/env bash
# Delete the kind cluster hack/kind-up.sh made, and stop a Docker engine its setup started.
#
#   hack/kind-down.sh     deletes cluster $BOLNA_KIND_CLUSTER (default bolna-sip) with its
#                         node container, network entry and kubeconfig context; safe to
#                         run again. The images and the build cache are kept, so the next
#                         hack/kind-up.sh is fast; BOLNA_KIND_KEEP_DOCKER=1 also keeps
#                         a Docker engine that hack/install-docker.sh started running.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/kind/versions.sh
. hack/kind/versions.sh

case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: hack/kind-down.sh [--help]" >&2; exit 2 ;;
esac

cluster=${BOLNA_KIND_CLUSTER:-bolna-sip}
if docker info >/dev/null 2>&1; then
  kind_bin=$(hack/go-install.sh sigs.k8s.io/kind "$KIND_VERSION" | tail -n 1)
  if PATH="$PWD/hack/kind:$PATH" "$kind_bin" get clusters 2>/dev/null | grep -qx "$cluster"; then
    echo "==> deleting the kind cluster $cluster"
    PATH="$PWD/hack/kind:$PATH" "$kind_bin" delete cluster --name "$cluster" 2>&1 | sed 's/^/    /'
  else
    echo "==> no kind cluster $cluster"
  fi
else
  echo "==> the Docker engine is not running: no kind cluster to delete"
fi
if [ "${BOLNA_KIND_KEEP_DOCKER:-0}" != 1 ]; then
  hack/install-docker.sh --stop-if-started-here
fi
