#!/usr/bin/env bash
# Build kube-apiserver, etcd and a matching kubectl from Go
# modules for pinned releases, and cache them outside the repository so each
# machine builds them once. See --help.
set -euo pipefail

# ---- pins -------------------------------------------------------------------
K8S_VERSION="v1.35.4"    # k8s.io/kubernetes
ETCD_VERSION="v3.6.16"   # go.etcd.io/etcd/server/v3
# -----------------------------------------------------------------------------

K8S_MODULE="k8s.io/kubernetes"
ETCD_MODULE="go.etcd.io/etcd/server/v3"

usage() {
  cat <<USAGE
Usage: hack/build-control-plane.sh [--node] [--help]

Builds a local Kubernetes control plane for integration tests (envtest style):
  kube-apiserver  from ${K8S_MODULE} ${K8S_VERSION}
  etcd            from ${ETCD_MODULE} ${ETCD_VERSION}
  kubectl         from ${K8S_MODULE} ${K8S_VERSION} (the machine's own may be outside
                  kubectl's one-minor version skew)
With --node, also what a kind node runs (hack/kind-up.sh builds its node image
from them): kubeadm, kubelet, kube-controller-manager, kube-scheduler and
kube-proxy, from the same module and version.

Everything is built from Go modules through the configured Go module proxy
(no release downloads). ${K8S_MODULE} cannot be 'go install'ed directly
because its go.mod replaces every staging module (k8s.io/api, ...) with a
local path, so the script writes a throwaway wrapper module that requires
${K8S_MODULE} ${K8S_VERSION} and replaces each staging module with its
published v0.X.Y release. Binaries are built with CGO_ENABLED=0 and the
version variables set, so 'kube-apiserver --version' and /version report
${K8S_VERSION}.

The binaries are cached in
  \${BOLNA_CACHE_DIR:-\$HOME/.cache/bolna-sip-operator}/control-plane/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}/bin
If they are already there and run, the script returns at once. A cold build
takes several minutes on 2 cores; Go's build cache (GOCACHE) and module
cache are kept, so a rebuild after the cache dir is removed is much faster.
Binaries are written under a temporary name and renamed at the end, so an
interrupted build never leaves a half-written binary behind. Concurrent runs
are serialised with flock(1) when it is available.

Progress goes to stderr. On success the last line of stdout is the bin dir:
  bin=\$(hack/build-control-plane.sh | tail -n1)

Environment:
  BOLNA_CACHE_DIR   cache root (default: \$HOME/.cache/bolna-sip-operator)
  GOCACHE, GOMODCACHE, GOPROXY, GOSUMDB
                    honoured as usual by the go command
The script sets GOTOOLCHAIN=local, GOWORK=off, CGO_ENABLED=0 and
GOFLAGS="-mod=mod -buildvcs=false" for its own go commands.

Requires: go (new enough for the pinned releases' go directives), flock
(optional).
USAGE
}

K8S_CMDS=(kube-apiserver kubectl)
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --node) K8S_CMDS+=(kubeadm kubelet kube-controller-manager kube-scheduler kube-proxy) ;;
  "") ;;
  *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac

log() { printf '[build-control-plane] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

CACHE_ROOT="${BOLNA_CACHE_DIR:-${HOME}/.cache/bolna-sip-operator}"
CP_DIR="${CACHE_ROOT}/control-plane/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
BIN_DIR="${CP_DIR}/bin"

# True if the binary exists, runs and reports the expected version string.
# kubectl has no --version flag; it is asked with 'version --client'.
runs_ok() {
  local bin="$1" want="$2" out
  [[ -x "${bin}" ]] || return 1
  if [[ "$(basename "${bin}")" == kubectl ]]; then
    out="$("${bin}" version --client 2>&1)" || return 1
  elif [[ "$(basename "${bin}")" == kubeadm ]]; then
    out="$("${bin}" version -o short 2>&1)" || return 1
  else
    out="$("${bin}" --version 2>&1)" || return 1
  fi
  [[ "${out}" == *"${want}"* ]]
}

k8s_present() {
  local cmd
  for cmd in "${K8S_CMDS[@]}"; do
    runs_ok "${BIN_DIR}/${cmd}" "${K8S_VERSION}" || return 1
  done
}

all_present() {
  k8s_present && runs_ok "${BIN_DIR}/etcd" "${ETCD_VERSION#v}"
}

if all_present; then
  log "cached: ${K8S_CMDS[*]} ${K8S_VERSION}, etcd ${ETCD_VERSION} in ${BIN_DIR}"
  echo "${BIN_DIR}"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go (see the project's setup) and retry"

mkdir -p "${BIN_DIR}"

# Serialise concurrent builds for the same pins; re-check after the lock.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${CP_DIR}/.build.lock"
  if ! flock -n 9; then
    log "another build is running for ${CP_DIR}; waiting for it..."
    flock 9
  fi
  if all_present; then
    log "built by a concurrent run: ${BIN_DIR}"
    echo "${BIN_DIR}"
    exit 0
  fi
fi

export GOTOOLCHAIN=local
export GOWORK=off
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"

WORK="$(mktemp -d "${CP_DIR}/build.XXXXXX")"
cleanup() {
  rm -rf "${WORK}"
  rm -f "${BIN_DIR}"/.*.tmp."$$" 2>/dev/null || true
}
trap cleanup EXIT

log "using $(go version) (GOTOOLCHAIN=local)"

# go_line MODFILE -> the 'go X.Y.Z' directive of a go.mod file
go_line() { awk '$1 == "go" { print; exit }' "$1"; }

# Build PKG (in the wrapper module DIR) to BIN_DIR/NAME via a temp name.
build_to() {
  local dir="$1" pkg="$2" name="$3" ldflags="$4"
  local tmp="${BIN_DIR}/.${name}.tmp.$$"
  (cd "${dir}" && go build -trimpath -ldflags "${ldflags}" -o "${tmp}" "${pkg}")
  mv -f "${tmp}" "${BIN_DIR}/${name}"
}

# ---- kubernetes wrapper module --------------------------------------------
if [[ ! "${K8S_VERSION}" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  die "K8S_VERSION must look like v1.MINOR.PATCH, got ${K8S_VERSION}"
fi
K8S_MINOR="${BASH_REMATCH[1]}"
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

if ! k8s_present; then
  log "resolving ${K8S_MODULE}@${K8S_VERSION} go.mod..."
  k8s_json="$(cd "${WORK}" && go mod download -json "${K8S_MODULE}@${K8S_VERSION}")" ||
    die "could not download ${K8S_MODULE}@${K8S_VERSION}"
  k8s_gomod="$(printf '%s\n' "${k8s_json}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "${k8s_gomod}" ]] || die "no go.mod path in: ${k8s_json}"

  # Staging modules: every 'k8s.io/X => ./staging/...' line of the replace block.
  mapfile -t staging < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "${k8s_gomod}")
  (( ${#staging[@]} > 0 )) || die "found no staging replaces in ${k8s_gomod}"
  log "replacing ${#staging[@]} staging modules with ${STAGING_VERSION}"

  kdir="${WORK}/kubernetes"
  mkdir -p "${kdir}"
  {
    echo "module bolna.local/control-plane-build/kubernetes"
    echo
    go_line "${k8s_gomod}"
    echo
    echo "require ${K8S_MODULE} ${K8S_VERSION}"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do
      echo "	${m} => ${m} ${STAGING_VERSION}"
    done
    echo ")"
  } > "${kdir}/go.mod"

  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  k8s_ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION}"
    k8s_ldflags+=" -X ${pkg}.gitMajor=1"
    k8s_ldflags+=" -X ${pkg}.gitMinor=${K8S_MINOR}"
    k8s_ldflags+=" -X ${pkg}.gitTreeState=clean"
    k8s_ldflags+=" -X ${pkg}.gitCommit="  # unknown from a module zip; better empty than a placeholder
    k8s_ldflags+=" -X ${pkg}.buildDate=${build_date}"
  done

  for cmd in "${K8S_CMDS[@]}"; do
    runs_ok "${BIN_DIR}/${cmd}" "${K8S_VERSION}" && continue
    log "building ${cmd} ${K8S_VERSION} (a few minutes on 2 cores)..."
    start=${SECONDS}
    build_to "${kdir}" "${K8S_MODULE}/cmd/${cmd}" "${cmd}" "${k8s_ldflags}"
    log "built ${cmd} in $((SECONDS - start))s"
  done
fi

# ---- etcd wrapper module -----------------------------------------------------
if ! runs_ok "${BIN_DIR}/etcd" "${ETCD_VERSION#v}"; then
  log "resolving ${ETCD_MODULE}@${ETCD_VERSION} go.mod..."
  etcd_json="$(cd "${WORK}" && go mod download -json "${ETCD_MODULE}@${ETCD_VERSION}")" ||
    die "could not download ${ETCD_MODULE}@${ETCD_VERSION}"
  etcd_gomod="$(printf '%s\n' "${etcd_json}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "${etcd_gomod}" ]] || die "no go.mod path in: ${etcd_json}"

  edir="${WORK}/etcd"
  mkdir -p "${edir}"
  {
    echo "module bolna.local/control-plane-build/etcd"
    echo
    go_line "${etcd_gomod}"
    echo
    echo "require ${ETCD_MODULE} ${ETCD_VERSION}"
  } > "${edir}/go.mod"

  log "building etcd ${ETCD_VERSION} (a minute or two on 2 cores)..."
  start=${SECONDS}
  build_to "${edir}" "${ETCD_MODULE}" etcd "-s -w"
  log "built etcd in $((SECONDS - start))s"
fi

all_present || die "binaries in ${BIN_DIR} do not run after the build"
log "done: $("${BIN_DIR}/kube-apiserver" --version), $("${BIN_DIR}/etcd" --version | head -n1)"
echo "${BIN_DIR}"
