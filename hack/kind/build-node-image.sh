#!/usr/bin/env bash
# Build a kind node image offline, from Debian packages and Go modules only. See --help.
set -euo pipefail

K8S_VERSION="v1.35.4"       # k8s.io/kubernetes (hack/build-control-plane.sh builds it)
# shellcheck source=hack/kind/versions.sh
. "$(dirname "$0")/versions.sh"

usage() {
  cat <<USAGE
Usage: hack/kind/build-node-image.sh [--help]

Builds the image of a kind node running Kubernetes ${K8S_VERSION}, without any image
registry: 'kind build node-image' pulls its base and the control-plane images, so
this script assembles the same thing by hand, the way kind's builder does:

  1. the binaries, from Go modules (cached per machine): kubeadm, kubelet, kubectl,
     kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy and etcd
     (hack/build-control-plane.sh --node), crictl ${CRICTL_VERSION} and coredns
     ${COREDNS_VERSION} (hack/go-install.sh) and a pause process (hack/kind/pause);
  2. the node's root filesystem from Debian packages (systemd, containerd, runc, the
     CNI plugins, iptables/nftables; hack/build-rootfs.sh) with kind's base files from
     the kind ${KIND_VERSION} module (its entrypoint, systemd units), a containerd config for Debian's containerd 1.6, a static CNI
     config (kind's own CNI comes from a registry) and hack/kind/node-entrypoint;
  3. an image for each control-plane component, tagged with exactly the names
     'kubeadm config images list' gives, preloaded into the node's containerd.

The result is tagged bolna-sip-kind-node:${K8S_VERSION}-<key>, where <key> hashes the
pins, this directory and the root filesystems; an existing tag is reused at once.
The last line of stdout is the tag. This is also how an air-gapped user builds a
node image. Cold (nothing cached) the Go builds take about 15 minutes on 2 cores and
the rest about 5; warm, under 2 minutes.

Needs: root, go, a running Docker engine and mmdebstrap (hack/install-docker.sh).
Environment: BOLNA_CACHE_DIR (default ~/.cache/bolna-sip-operator).
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "usage: hack/kind/build-node-image.sh [--help]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${BOLNA_CACHE_DIR:-$HOME/.cache/bolna-sip-operator}
log() { printf '[build-node-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# Run a command, showing its output only when it fails (docker build's legacy builder
# warns on every call that BuildKit is not installed).
quietly() {
  local out
  out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; die "failed: $*"; }
}
docker info >/dev/null 2>&1 || die "the Docker engine does not answer: run hack/install-docker.sh"

# ---- 1. binaries -------------------------------------------------------------------
log "binaries (built once per machine; the first time takes about 15 minutes)"
k8s_bin=$("$repo/hack/build-control-plane.sh" --node | tail -n 1)
crictl_bin=$("$repo/hack/go-install.sh" sigs.k8s.io/cri-tools/cmd/crictl "$CRICTL_VERSION" | tail -n 1)
coredns_bin=$("$repo/hack/go-install.sh" github.com/coredns/coredns "$COREDNS_VERSION" | tail -n 1)
pause_bin="$cache/pause-$(sha256sum "$here/pause/main.go" | cut -c1-12)/pause"
if [ ! -x "$pause_bin" ]; then
  mkdir -p "$(dirname "$pause_bin")"
  (cd "$here/pause" && GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 \
    go build -trimpath -ldflags='-s -w' -o "$pause_bin.tmp" . && mv "$pause_bin.tmp" "$pause_bin")
fi
kind_files=$(cd / && GOFLAGS=-mod=mod GOWORK=off go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')/images/base/files
[ -f "$kind_files/usr/local/bin/entrypoint" ] || die "kind's base files are not in the module cache ($kind_files)"

# ---- 2. root filesystems -----------------------------------------------------------
node_base=$("$repo/hack/build-rootfs.sh" kind-node \
  systemd dbus containerd runc containernetworking-plugins \
  iptables nftables conntrack iproute2 ethtool util-linux mount kmod libseccomp2 \
  pigz bash ca-certificates procps jq socat | tail -n 1)
component_base=$("$repo/hack/build-rootfs.sh" k8s-component iptables nftables conntrack | tail -n 1)

key=$( { echo "$K8S_VERSION $KIND_VERSION $CRICTL_VERSION $COREDNS_VERSION $node_base $component_base"
         cat "$here/build-node-image.sh" "$here/versions.sh" "$here/node-entrypoint" "$here/containerd-config.toml.in" \
             "$here/cni.conflist" "$here/pause/main.go"; } | sha256sum | cut -c1-12)
tag="bolna-sip-kind-node:${K8S_VERSION}-${key}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  log "cached: $tag"
  echo "$tag"
  exit 0
fi
start=$SECONDS
work=$(mktemp -d)
builder="bolna-sip-node-build-$$"
cleanup() { docker rm -f "$builder" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

# ---- 3. control-plane images ---------------------------------------------------------
# Tagged with the names kubeadm itself asks for, so nothing in the cluster's
# configuration changes and nothing is ever pulled.
mapfile -t wanted < <("$k8s_bin/kubeadm" config images list --kubernetes-version "$K8S_VERSION")
(( ${#wanted[@]} > 0 )) || die "kubeadm listed no images"
sandbox_image=""
ctx="$work/components"
mkdir -p "$ctx"
for image in "${wanted[@]}"; do
  name=${image##*/}; name=${name%%:*}
  case "$name" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy)
      src="$k8s_bin/$name" dest="/usr/local/bin/$name" entry="" ;;
    etcd)    src="$k8s_bin/etcd" dest="/usr/local/bin/etcd" entry="" ;;
    coredns) src="$coredns_bin" dest="/coredns" entry='ENTRYPOINT ["/coredns"]' ;;
    pause)   src="$pause_bin" dest="/pause" entry='ENTRYPOINT ["/pause"]'; sandbox_image=$image ;;
    *) die "kubeadm asks for an image this script does not build: $image" ;;
  esac
  cp "$src" "$ctx/$name"
  log "image $image from $(basename "$src")"
  printf 'FROM %s\nCOPY %s %s\n%s\n' "$component_base" "$name" "$dest" "$entry" |
    quietly docker build --pull=false -t "$image" -f - "$ctx"
done
[ -n "$sandbox_image" ] || die "kubeadm listed no pause image"
log "saving ${#wanted[@]} images for the node's containerd"
docker save "${wanted[@]}" -o "$work/images.tar"

# ---- 4. the node ----------------------------------------------------------------------
log "assembling the node from $node_base"
# The builder runs containerd to preload the images: the same privileges as a node.
"$here/docker" run -d --name "$builder" --privileged --entrypoint sleep "$node_base" infinity >/dev/null
in_node() { docker exec "$builder" bash -euc "$1"; }

# kind's base files (entrypoint, systemd units for kubelet and containerd, sysctls, ...).
tar -C "$kind_files" --exclude=./LICENSES --exclude=./etc/containerd/config.toml \
  --owner=0 --group=0 -cf - . | docker exec -i "$builder" tar -C / -xf -
docker cp "$here/node-entrypoint" "$builder:/usr/local/bin/bolna-node-entrypoint"
sed "s|@SANDBOX_IMAGE@|$sandbox_image|" "$here/containerd-config.toml.in" > "$work/config.toml"
docker cp "$work/config.toml" "$builder:/etc/containerd/config.toml"
in_node "mkdir -p /etc/cni/net.d /etc/kubernetes/manifests /opt/cni"
docker cp "$here/cni.conflist" "$builder:/etc/cni/net.d/10-bolna-kind.conflist"
for b in kubeadm kubelet kubectl; do docker cp "$k8s_bin/$b" "$builder:/usr/bin/$b"; done
docker cp "$crictl_bin" "$builder:/usr/local/bin/crictl"

in_node '
  chmod 0755 /usr/local/bin/* /kind/bin/* /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl
  chmod 0644 /etc/cni/net.d/* /etc/containerd/config.toml
  # Debian puts containerd in /usr/bin and the CNI plugins in /usr/lib/cni; kind and the
  # kubelet look in /usr/local/bin and /opt/cni/bin.
  ln -sf /usr/bin/containerd /usr/local/bin/containerd
  ln -sfn /usr/lib/cni /opt/cni/bin
  ln -sf /usr/lib/systemd/systemd /sbin/init
  # systemd in a container: only what a node needs (as kind'"'"'s base image does).
  find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
  rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
        /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
        /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
  echo ReadKMsg=no >> /etc/systemd/journald.conf
  systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
  systemctl mask systemd-binfmt.service >/dev/null 2>&1
  ctr oci spec \
    | jq ".hooks.createContainer[.hooks.createContainer | length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
    | jq "del(.process.rlimits)" > /etc/containerd/cri-base.json
  echo '"$K8S_VERSION"' > /kind/version
'

log "preloading the images into the node's containerd"
docker cp "$work/images.tar" "$builder:/kind/images.tar"
in_node '
  (containerd >/tmp/containerd.log 2>&1 &)
  for i in $(seq 1 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
  ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests /kind/images.tar >/dev/null
  ctr --namespace=k8s.io images list -q | grep -v "^sha256:" | sort
  pkill containerd; for i in $(seq 1 50); do pgrep containerd >/dev/null || break; sleep 0.2; done
  rm -f /kind/images.tar /tmp/containerd.log
' >&2

docker commit "$builder" "$tag-assembled" >/dev/null
# 'docker commit --change' cannot set STOPSIGNAL on this engine: one more build step does.
printf '%s\n' "FROM $tag-assembled" 'ENV container=docker' 'STOPSIGNAL SIGRTMIN+3' \
  'ENTRYPOINT ["/usr/local/bin/bolna-node-entrypoint", "/sbin/init"]' 'CMD []' |
  quietly docker build --pull=false -t "$tag" -
docker rmi "$tag-assembled" >/dev/null
# The component images live on in the node; the engine's copies are not needed.
docker rmi "${wanted[@]}" >/dev/null 2>&1 || true
# Older node images (other pins or files) are superseded; one a cluster still runs stays.
docker image ls --format '{{.Repository}}:{{.Tag}}' bolna-sip-kind-node | grep -vxF "$tag" |
  xargs -r docker rmi >/dev/null 2>&1 || true
log "built $tag in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
echo "$tag"
