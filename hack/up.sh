#!/usr/bin/env bash
# Bring up the whole local stack and return once every example SipTrunk is Ready.
#
#   hack/up.sh        set up (hack/setup.sh stack: the Python env, the control plane, Kamailio
#                     and sipp), then start, detached, one supervisor holding: etcd and
#                     kube-apiserver, the Bolna emulator, two SIP gateways (sipp),
#                     Kamailio and the operator; apply the CRD and examples/local/; wait
#                     until every SipTrunk is Ready; print them and how to use the stack
#   hack/down.sh      stop all of it
#
# Everything listens on 127.0.0.1 only. Environment:
#   BOLNA_STACK_DIR            state, kubeconfig and logs (default .local-stack/)
#   BOLNA_STACK_GW1_PORT       UDP port of the first SIP gateway (default 15081)
#   BOLNA_STACK_GW2_PORT       UDP port of the second SIP gateway (default 15082)
#   BOLNA_STACK_READY_TIMEOUT  seconds to wait for Ready (default 120)
# Running it while the stack is up prints the SipTrunks again.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: hack/up.sh [--help]" >&2; exit 2 ;;
esac

hack/setup.sh stack
exec .venv/bin/python -m bolna_devenv.stack up
