# Pins of the kind tier, sourced by hack/kind-up.sh, hack/kind-down.sh, hack/setup.sh and
# hack/kind/build-node-image.sh. Kubernetes itself (v1.35.4) is pinned in
# hack/build-control-plane.sh, which builds every Kubernetes binary.
# shellcheck shell=bash disable=SC2034
KIND_VERSION="v0.33.0"      # sigs.k8s.io/kind
CRICTL_VERSION="v1.34.0"    # sigs.k8s.io/cri-tools
COREDNS_VERSION="v1.13.1"   # github.com/coredns/coredns
