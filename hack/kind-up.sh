#!/usr/bin/env bash
# A kind cluster running the project's own images: the chart installed, the Bolna emulator
# standing in for Bolna, the SIP edge on, the example trunks Ready. See --help.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/kind/versions.sh
. hack/kind/versions.sh
repo=$PWD

usage() {
  cat <<'USAGE'
Usage: hack/kind-up.sh [--help]

Brings up a one-node kind cluster with everything built on this machine, no image
registry involved, and returns when the example trunks are Ready:

  1. setup: the Python environment, kubectl and helm (hack/setup.sh), the Docker
     engine, started when it is not running (hack/install-docker.sh);
  2. the kind node image, assembled offline from Debian packages and Go modules
     (hack/kind/build-node-image.sh; cached per machine, keyed on versions);
  3. the project's images: operator, Kamailio, sipp (hack/build-images.sh; cached,
     keyed on their inputs);
  4. the cluster (kind create cluster, context kind-$BOLNA_KIND_CLUSTER), the images
     loaded into it;
  5. in namespace bolna-sip (restricted Pod Security): the Bolna emulator and
     `helm upgrade --install sip charts/bolna-sip-operator` with the SIP edge on
     (2 operator replicas, 2 Kamailio replicas), waited for;
  6. in namespace telephony: two sipp gateway pods (hack/kind/gateways.yaml), a
     SipTrunk over them (examples/kind/siptrunk.yaml) and a CarrierTrunk over them
     (examples/kind/carriertrunk.yaml), waited for until Ready.

Then it prints `kubectl get siptrunks,carriertrunks -A -o wide` and how to use the
cluster. Run it
again at any time: every step is skipped or repeated harmlessly. hack/kind-down.sh
deletes the cluster (and stops a Docker engine this setup started).

The first run on a fresh machine builds every Kubernetes binary from Go modules and
takes about 30 minutes on 2 cores; with the caches warm it is up in a few minutes.

Environment:
  BOLNA_KIND_CLUSTER         cluster name (default bolna-sip)
  BOLNA_KIND_READY_TIMEOUT   seconds to wait for the trunks (default 300)
  BOLNA_KIND_NODE_IMAGE      a node image to use instead of building one, e.g. kind's
                             stock image for v1.35 where Docker can pull it (it must
                             run Kubernetes 1.35: the chart's tests pin that version)
  KUBECONFIG                 where kind writes the cluster's context (kind's default:
                             ~/.kube/config)
  BOLNA_CACHE_DIR            build cache (default ~/.cache/bolna-sip-operator)
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "usage: hack/kind-up.sh [--help]" >&2; exit 2 ;;
esac

cluster=${BOLNA_KIND_CLUSTER:-bolna-sip}
ready_timeout=${BOLNA_KIND_READY_TIMEOUT:-300}
context="kind-$cluster"
started=$SECONDS
step() { printf '==> %s\n' "$*"; }
fail() { printf 'kind-up: %s\n' "$*" >&2; exit 1; }

step "setup (the Python environment; then kubectl, helm and the Docker engine; the first time builds them)"
hack/setup.sh python | sed 's/^/    /'
hack/install-docker.sh
k8s_bin=$(hack/build-control-plane.sh --node | tail -n 1)
kubectl() { "$k8s_bin/kubectl" --context "$context" "$@"; }
helm_bin=$(hack/install-helm.sh | tail -n 1)
kind_bin=$(hack/go-install.sh sigs.k8s.io/kind "$KIND_VERSION" | tail -n 1)
# kind calls 'docker'; hack/kind/docker passes through, adapting --privileged where
# this machine cannot grant it (see that file).
kind() { PATH="$repo/hack/kind:$PATH" "$kind_bin" "$@"; }

if [ -n "${BOLNA_KIND_NODE_IMAGE:-}" ]; then
  step "the kind node image: $BOLNA_KIND_NODE_IMAGE (BOLNA_KIND_NODE_IMAGE)"
  node_image=$BOLNA_KIND_NODE_IMAGE
else
  step "the kind node image (hack/kind/build-node-image.sh; built once per machine)"
  node_image=$(hack/kind/build-node-image.sh | tail -n 1)
  echo "    $node_image"
fi

step "the project's images: operator, Kamailio, sipp (hack/build-images.sh)"
declare -A image=()
while IFS='=' read -r k v; do
  [ -n "$v" ] && image[$k]=$v
done < <(hack/build-images.sh)
for k in operator kamailio sipp; do
  [ -n "${image[$k]:-}" ] || fail "hack/build-images.sh printed no $k image"
  echo "    $k: ${image[$k]}"
done

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  step "the kind cluster $cluster exists; reusing it"
  kind export kubeconfig --name "$cluster" 2>&1 | sed 's/^/    /'
else
  step "creating the kind cluster $cluster (context $context; about a minute)"
  kind create cluster --name "$cluster" --image "$node_image" \
    --config hack/kind/cluster.yaml --wait 3m 2>&1 | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail "kind create cluster failed (hack/kind-down.sh removes what is left)"
fi

step "loading the images into the cluster"
for k in operator kamailio sipp; do
  kind load docker-image --name "$cluster" "${image[$k]}" 2>&1 | sed 's/^/    /'
done

step "the Bolna emulator and the chart in namespace bolna-sip (restricted Pod Security)"
kubectl create namespace bolna-sip --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace bolna-sip --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
sed "s|@OPERATOR_IMAGE@|${image[operator]}|" hack/kind/bolna-emulator.yaml |
  kubectl -n bolna-sip apply -f - | sed 's/^/    /'
kubectl -n bolna-sip rollout status deployment/bolna-emulator --timeout=120s | sed 's/^/    /'
"$helm_bin" --kube-context "$context" upgrade --install sip charts/bolna-sip-operator -n bolna-sip \
  --set image.repository="${image[operator]%:*}" --set image.tag="${image[operator]##*:}" \
  --set kamailio.image.repository="${image[kamailio]%:*}" --set kamailio.image.tag="${image[kamailio]##*:}" \
  --set bolna.url=http://bolna-emulator.bolna-sip:8055 \
  --wait --timeout 5m | sed -n '1,/^NOTES/p' | grep -v '^NOTES' | sed 's/^/    /'

step "two sipp gateway pods, and a SipTrunk and a CarrierTrunk over them, in namespace telephony"
sed "s|@SIPP_IMAGE@|${image[sipp]}|" hack/kind/gateways.yaml | kubectl apply -f - | sed 's/^/    /'
for gw in sip-gw-1 sip-gw-2; do
  kubectl -n telephony rollout status "deployment/$gw" --timeout=120s | sed 's/^/    /'
done
kubectl -n telephony apply -f examples/kind/siptrunk.yaml -f examples/kind/carriertrunk.yaml |
  sed 's/^/    /'

step "waiting until every trunk is Ready (Bolna synced, Kamailio loaded, gateways answering)"
deadline=$((SECONDS + ready_timeout))
last=""
while :; do
  not_ready=$(kubectl get siptrunks,carriertrunks -A -o jsonpath='{range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{" "}{.status.conditions[?(@.type=="Ready")].reason}{": "}{.status.conditions[?(@.type=="Ready")].message}{"\n"}{end}' |
    awk '$2 != "True"')
  [ -z "$not_ready" ] && break
  if [ "$not_ready" != "$last" ]; then
    printf '%s\n' "$not_ready" | sed 's/^/    waiting for /'
    last=$not_ready
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    kubectl get siptrunks,carriertrunks -A -o wide >&2 || true
    fail "trunks not Ready after ${ready_timeout}s (operator logs: kubectl --context $context -n bolna-sip logs deploy/sip-bolna-sip-operator)"
  fi
  sleep 2
done
step "the kind cluster $cluster is up, every trunk Ready ($((SECONDS - started)) s)"
echo
kubectl get siptrunks,carriertrunks -A -o wide
set_id=$(kubectl -n telephony get siptrunk kind-userpass -o jsonpath='{.status.dispatcher.setId}')
cat <<EOF

Use it (context $context; kubectl ${k8s_bin}/kubectl matches the cluster's version):
  kubectl --context $context get siptrunks,carriertrunks -A -o wide
  kubectl --context $context -n bolna-sip logs deploy/sip-bolna-sip-operator
  # what Bolna (the emulator) holds, and every call the operator made to it:
  kubectl --context $context -n bolna-sip port-forward svc/bolna-emulator 8055 &
  curl -s localhost:8055/_emulator/state; curl -s localhost:8055/_emulator/requests
  # a call through Kamailio to the trunk's gateways (set $set_id), then which gateway took it:
  kubectl --context $context -n telephony run caller --rm -i --restart=Never \\
    --image=${image[sipp]} --image-pull-policy=IfNotPresent -- \\
    sip-bolna-sip-operator-kamailio.bolna-sip.svc.cluster.local:5060 \\
    -sf /usr/share/bolna-sipp/uac-with-set.xml -key trunk_set $set_id -m 1 -nostdin
  kubectl --context $context -n telephony logs deploy/sip-gw-1
Delete it all: hack/kind-down.sh
EOF
