#!/usr/bin/env bash
# Build this project's three container images from Debian packages and PyPI, with no
# image registry involved. See --help.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Changing how an image is built (this script's arguments to docker build) without
# changing its inputs: bump this, and every image is built again.
RECIPE=v1

# The Debian packages of each image's base (hack/build-rootfs.sh).
OPERATOR_PACKAGES=(python3 python3-venv ca-certificates netbase)
# kamailio-tls-modules: tls.so (TLS towards carriers, kamailio.cfg's WITH_TLS);
# ca-certificates: the system CA bundle that gateways' certificates are verified against.
KAMAILIO_PACKAGES=(kamailio kamailio-tls-modules ca-certificates netbase)
SIPP_PACKAGES=(sip-tester netbase)

usage() {
  cat <<USAGE
Usage: hack/build-images.sh [--help]

Builds this project's container images into the local Docker engine, from Debian
packages and PyPI only (no image registry is contacted):

  bolna-sip-operator:dev-<key>  the operator, and the Bolna emulator
                                (Dockerfile; Python wheels from PyPI via .venv)
  bolna-sip-kamailio:dev-<key>  Kamailio 5.6 with deploy/kamailio/kamailio.cfg
                                (deploy/kamailio/Dockerfile)
  bolna-sip-sipp:dev-<key>      sipp with the scenarios of deploy/sipp/, for test
                                gateways and callers (deploy/sipp/Dockerfile)

Each is built on a Debian bookworm root filesystem that hack/build-rootfs.sh makes
with the packages it needs (cached by package list), so the Dockerfiles install
nothing from the network. The operator's Python dependencies are built as wheels
on the host first (.venv/bin/pip wheel into .wheels/; PyPI, or the index pip is
configured with) and installed in the build with pip --no-index.

<key> is 12 hex digits of a hash of the image's inputs: its Dockerfile,
.dockerignore, its base image's tag, and the sources it copies (the two shipped
packages of operator/ and pyproject.toml; deploy/kamailio/kamailio.cfg; deploy/sipp/),
and nothing else: a change to the docs or the tests builds no image. An image whose tag
exists already is not built again, so an unchanged tree returns at once, and any
change builds a new tag and removes the image's older dev-* tags (one a container
still uses stays).

Progress, timings and image sizes go to stderr. stdout gets exactly three lines,
the images, for scripts:

  operator=bolna-sip-operator:dev-...
  kamailio=bolna-sip-kamailio:dev-...
  sipp=bolna-sip-sipp:dev-...

Load them into a kind cluster with 'kind load docker-image IMAGE'; the chart
takes them as image.repository/tag and kamailio.image.repository/tag.

Needs: root (hack/build-rootfs.sh runs mmdebstrap), a running Docker engine
(hack/install-docker.sh starts one), and the project's .venv with Python 3.11
(hack/setup.sh), whose pip builds the wheels.
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

start_all=$SECONDS
log() { printf '[build-images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cd "$ROOT"
docker info >/dev/null 2>&1 ||
  die "the Docker engine does not answer ('docker info' fails): run hack/install-docker.sh"
[[ -x .venv/bin/pip ]] || die ".venv is missing: run hack/setup.sh"

# 12 hex digits of a hash of a base tag and of the files under the given paths (names
# and contents; bytecode and egg-info left out, as .dockerignore leaves them out).
input_key() {
  local base=$1; shift
  {
    printf '%s\n%s\n' "$RECIPE" "$base"
    find "$@" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' ! -path '*.egg-info/*' \
      -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
}

base_image() {  # NAME PACKAGE...: the tag of the base, built if missing
  local out
  out=$(hack/build-rootfs.sh "$@") || die "hack/build-rootfs.sh $* failed"
  tail -n1 <<<"$out"
}

size_of() { docker image inspect -f '{{.Size}}' "$1" | numfmt --to=iec-i --suffix=B; }

# prune_older REPOSITORY KEEP: remove the other dev-* tags of REPOSITORY, which a change
# of inputs has superseded (one left in use by a container stays; nothing fails).
prune_older() {
  local tag
  docker image ls --format '{{.Repository}}:{{.Tag}}' "$1" | grep ':dev-' |
    while read -r tag; do
      [[ "$tag" == "$2" ]] || docker rmi "$tag" >/dev/null 2>&1 || true
    done
}

# build NAME DOCKERFILE BASE KEY [docker build argument ...]: prints the image.
build() {
  local name=$1 dockerfile=$2 base=$3 key=$4; shift 4
  local image="bolna-sip-${name}:dev-${key}" started=$SECONDS
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "$name: cached $image ($(size_of "$image"))"
  else
    [[ -n "${prepare:-}" ]] && "$prepare"
    log "$name: building $image on $base"
    local dangling_before
    dangling_before=$(docker image ls --quiet --filter dangling=true | sort)
    # --pull=false: the base is local and must stay so (this docker build's --pull is a
    # yes/no switch; false never pulls an image that is present).
    docker build --pull=false --file "$dockerfile" --build-arg BASE_IMAGE="$base" \
      --label "org.opencontainers.image.title=bolna-sip-${name}" \
      --label "org.opencontainers.image.version=dev-${key}" \
      "$@" --tag "$image" . >&2 ||
      die "$name: docker build failed (its output is above)"
    log "$name: built $image in $((SECONDS - started))s ($(size_of "$image"))"
    prune_older "bolna-sip-${name}" "$image"
    # The legacy builder leaves a multi-stage build's first stage as a dangling image.
    comm -13 <(printf '%s\n' "$dangling_before") \
      <(docker image ls --quiet --filter dangling=true | sort) |
      xargs -r docker rmi >/dev/null 2>&1 || true
  fi
  printf '%s\n' "$image"
}

# The operator's wheels: the package's runtime dependencies and its build backend, all
# built by the host's pip for the image's Python (3.11: Debian bookworm's python3).
operator_wheels() {
  local started=$SECONDS python_version requires
  local -a backend
  python_version=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [[ "$python_version" == 3.11 ]] ||
    die ".venv has Python $python_version; the image's is 3.11 (wheels must match it)"
  requires=$(.venv/bin/python -c 'import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))')
  log "operator: building wheels into .wheels/ (pip wheel; needs the package index)"
  rm -rf .wheels
  mapfile -t backend <<<"$requires"
  .venv/bin/pip wheel --quiet --disable-pip-version-check --wheel-dir .wheels . \
    "${backend[@]}" >&2 || die "pip wheel failed"
  rm -f .wheels/bolna_sip_operator-*.whl  # the image builds the package from operator/
  log "operator: $(find .wheels -name '*.whl' | wc -l) wheels in $((SECONDS - started))s"
}

log "base images (hack/build-rootfs.sh)"
operator_base=$(base_image operator-base "${OPERATOR_PACKAGES[@]}")
kamailio_base=$(base_image kamailio-base "${KAMAILIO_PACKAGES[@]}")
sipp_base=$(base_image sipp-base "${SIPP_PACKAGES[@]}")

prepare=operator_wheels
operator=$(build operator Dockerfile "$operator_base" \
  "$(input_key "$operator_base" Dockerfile .dockerignore pyproject.toml \
    operator/bolna_sip_operator operator/bolna_emulator)" \
  --build-arg OFFLINE=1)
prepare=
kamailio=$(build kamailio deploy/kamailio/Dockerfile "$kamailio_base" \
  "$(input_key "$kamailio_base" .dockerignore deploy/kamailio/Dockerfile \
     deploy/kamailio/kamailio.cfg)")
sipp=$(build sipp deploy/sipp/Dockerfile "$sipp_base" \
  "$(input_key "$sipp_base" .dockerignore deploy/sipp)")

log "done in $((SECONDS - start_all))s"
printf 'operator=%s\nkamailio=%s\nsipp=%s\n' "$operator" "$kamailio" "$sipp"
