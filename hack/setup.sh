#!/usr/bin/env bash
# Install everything the operator and its test suite need, on a fresh machine or again.
# Idempotent: each step checks first and does nothing when already done.
#
#   hack/setup.sh            Python environment (.venv), the control plane (for the
#                            tests and the local stack), helm, promtool and gitops-judge
#                            (for the chart, alert and health-check tests; built from
#                            Go modules), and Kamailio + sipp from Debian
#   hack/setup.sh python     only the Python environment
#   hack/setup.sh cluster    all of the above, and what the kind cluster tier needs: the
#                            Docker engine (started when not running), the kind node
#                            image and the project's images (the first time ~20 min)
#
# Environment: BOLNA_CACHE_DIR (default ~/.cache/bolna-sip-operator) holds the built
# kube-apiserver, etcd and helm, shared by every checkout on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
case "$what" in
  all|python|cluster) ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: hack/setup.sh [all|python|cluster]" >&2; exit 2 ;;
esac

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

if [ "$what" != python ]; then
  step "the control plane: kube-apiserver, etcd and kubectl (built once per machine; the first time ~8 min)"
  bin_dir=$(hack/build-control-plane.sh | tail -n 1)
  echo "    $bin_dir"
  step "helm for the chart tests (built once per machine)"
  helm=$(hack/install-helm.sh | tail -n 1)
  echo "    $helm"
  step "promtool for the alert tests (built once per machine)"
  promtool=$(hack/install-promtool.sh | tail -n 1)
  echo "    $promtool"
  step "gitops-judge: kstatus and Argo CD health for the health-check tests (built once per version of its sources)"
  gitops_judge=$(hack/install-gitops-judge.sh | tail -n 1)
  echo "    $gitops_judge"
  step "Kamailio and sipp (Debian packages)"
  hack/install-sip-stack.sh
fi
if [ "$what" = cluster ]; then
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
