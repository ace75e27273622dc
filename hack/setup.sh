#!/usr/bin/env bash
# Install what the operator, the local stack and the test tiers need, on a fresh machine
# or again. Idempotent: each step checks first and does nothing when already done.
#
#   hack/setup.sh python     the Python environment (.venv): the unit and emulator tiers
#   hack/setup.sh stack      + the control plane (kube-apiserver, etcd, kubectl; built once
#                            per machine, the first time ~8 min) and Kamailio + sipp from
#                            Debian: what hack/up.sh and the integration tier need
#   hack/setup.sh tools      + helm, promtool and gitops-judge (built from Go modules): the
#                            chart tier's tools
#   hack/setup.sh all        stack and tools (the default)
#   hack/setup.sh cluster    all, and what the kind cluster tier needs: the Docker engine
#                            (started when not running), the kind node image, kind and the
#                            project's images (the first time ~20 min)
#
# Several may be given: hack/setup.sh stack tools. Environment: BOLNA_CACHE_DIR (default
# ~/.cache/bolna-sip-operator) holds the built binaries, shared by every checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

want_stack=0 want_tools=0 want_cluster=0
[ $# -gt 0 ] || set -- all
for what in "$@"; do
  case "$what" in
    python) ;;
    stack) want_stack=1 ;;
    tools) want_tools=1 ;;
    all) want_stack=1 want_tools=1 ;;
    cluster) want_stack=1 want_tools=1 want_cluster=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: hack/setup.sh [python|stack|tools|all|cluster]..." >&2; exit 2 ;;
  esac
done

step() { printf '==> %s\n' "$*"; }

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  step "creating the Python environment in .venv ($($python --version))"
  "$python" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  step "installing the operator and its development tools into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  rm -f .venv/.installed-* && touch "$stamp"
fi

if [ "$want_stack" = 1 ]; then
  step "the control plane: kube-apiserver, etcd and kubectl (built once per machine; the first time ~8 min)"
  bin_dir=$(hack/build-control-plane.sh | tail -n 1)
  echo "    $bin_dir"
  step "Kamailio and sipp (Debian packages)"
  hack/install-sip-stack.sh
fi
if [ "$want_tools" = 1 ]; then
  step "helm for the chart tests (built once per machine)"
  helm=$(hack/install-helm.sh | tail -n 1)
  echo "    $helm"
  step "promtool for the alert tests (built once per machine)"
  promtool=$(hack/install-promtool.sh | tail -n 1)
  echo "    $promtool"
  step "gitops-judge: kstatus and Argo CD health for the health-check tests (built once per version of its sources)"
  gitops_judge=$(hack/install-gitops-judge.sh | tail -n 1)
  echo "    $gitops_judge"
fi
if [ "$want_cluster" = 1 ]; then
  step "the Docker engine, mmdebstrap and the CNI plugins (Debian packages)"
  hack/install-docker.sh
  step "the kind node image (built once per machine from Go modules and Debian packages; the first time ~15 min)"
  echo "    $(hack/kind/build-node-image.sh | tail -n 1)"
  step "kind (built once per machine)"
  # shellcheck source=hack/kind/versions.sh
  . hack/kind/versions.sh
  echo "    $(hack/go-install.sh sigs.k8s.io/kind "$KIND_VERSION" | tail -n 1)"
  step "the project's images: operator, Kamailio, sipp"
  hack/build-images.sh | sed 's/^/    /'
fi
step "setup done"
