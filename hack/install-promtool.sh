#!/usr/bin/env bash
# Build Prometheus' promtool from its Go module, once per machine, and print its path.
#
#   hack/install-promtool.sh      build if missing; last line of stdout: the promtool binary
#
# The alert tests run `promtool check rules` and `promtool test rules` on the chart's
# PrometheusRule. There are no release downloads here, so promtool is built with
# 'go install' from the Go module proxy (Prometheus 3.x is published as module versions
# v0.3xx.y; about five minutes cold on 2 cores). The binary is cached under
# ${BOLNA_CACHE_DIR:-~/.cache/bolna-sip-operator}/promtool-<version>/bin and reused.
set -euo pipefail

PROMTOOL_VERSION="v0.316.0"   # github.com/prometheus/prometheus (Prometheus 3.16.0)

case "${1:-}" in
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: hack/install-promtool.sh [--help]" >&2; exit 2 ;;
esac

promtool=$("$(dirname "$0")/go-install.sh" github.com/prometheus/prometheus/cmd/promtool \
  "$PROMTOOL_VERSION" | tail -n 1)
"$promtool" --version 2>&1 | head -n 1 >&2
echo "$promtool"
