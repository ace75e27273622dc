#!/usr/bin/env bash
# Build a Debian bookworm root filesystem from Debian packages and import it into the
# local Docker engine as an image, with no image registry involved. See --help.
set -euo pipefail

SUITE="bookworm"

usage() {
  cat <<USAGE
Usage: hack/build-rootfs.sh NAME [PACKAGE ...]

Builds a Debian ${SUITE} root filesystem with mmdebstrap (variant minbase, plus
the packages named) and imports it as the Docker image

  bolna-sip-rootfs/NAME:${SUITE}-<key>

where <key> is a hash of the suite, the variant and the sorted package list, so
the same arguments reuse the image already imported (a cached call returns at
once) and a changed list builds a new one. The last line of stdout is the tag:

  base=\$(hack/build-rootfs.sh python python3 python3-venv | tail -n1)
  docker build --build-arg BASE_IMAGE="\$base" ...

Why not a base image from a registry: this project's machines reach Debian's
package archive but no image registry, and air-gapped users are in the same
place. A rootfs made from packages is what every image of the cluster tier
(the kind node, the Kubernetes components, Kamailio, sipp, the operator) is
built on.

The packages come from the host's own APT sources (/etc/apt/sources.list.d/
*.sources or /etc/apt/sources.list), so a machine behind a mirror uses that
mirror. apt's package lists are left out of the image (they are large and
stale at once); a Dockerfile that needs apt runs 'apt-get update' itself.

Needs: root, mmdebstrap (Debian package 'mmdebstrap'), a running Docker engine
(hack/install-docker.sh starts one). Progress goes to stderr.
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac

name=$1; shift
[[ "$name" =~ ^[a-z0-9][a-z0-9._-]*$ ]] ||
  { echo "build-rootfs: NAME must be lowercase letters, digits, '.', '_' or '-' (got '$name')" >&2; exit 2; }

log() { printf '[build-rootfs %s] %s\n' "$name" "$*" >&2; }

command -v mmdebstrap >/dev/null || { log "mmdebstrap is missing: apt-get install mmdebstrap"; exit 1; }
docker info >/dev/null 2>&1 || { log "the Docker engine does not answer: run hack/install-docker.sh"; exit 1; }

packages=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
key=$(printf '%s|minbase|%s|v1' "$SUITE" "$packages" | sha256sum | cut -c1-12)
tag="bolna-sip-rootfs/${name}:${SUITE}-${key}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  log "cached: $tag"
  echo "$tag"
  exit 0
fi

# The host's APT sources, as mmdebstrap takes them: a deb822 file or a one-line list.
sources=()
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
  [[ -s "$f" ]] && grep -qE '^(Types:|deb )' "$f" && sources+=("$f")
done
(( ${#sources[@]} > 0 )) || { log "no APT sources found in /etc/apt"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "building ${SUITE} minbase${packages:+ + $packages} (a minute or two)"
start=$SECONDS
include=()
[[ -n "$packages" ]] && include=(--include="$packages")
mmdebstrap --quiet --variant=minbase "${include[@]}" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  "$SUITE" "$work/rootfs.tar" "${sources[@]}" >&2
docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' "$work/rootfs.tar" "$tag" >/dev/null
log "imported $tag in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
echo "$tag"
