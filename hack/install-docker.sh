#!/usr/bin/env bash
# Install the Docker engine and the image tools from Debian, and start dockerd when it
# is not running. Idempotent; see --help.
set -euo pipefail

PACKAGES=(docker.io mmdebstrap containernetworking-plugins jq)

usage() {
  cat <<USAGE
Usage: hack/install-docker.sh [--stop-if-started-here] [--help]

Makes a Docker engine answer on this machine, for the cluster tier (kind) and the
project's images:

  1. installs Debian's ${PACKAGES[*]} when missing
     (the engine, mmdebstrap for root filesystems made from packages, the CNI
     plugins the kind node image carries, jq for its containerd spec);
  2. starts dockerd in the background when 'docker info' does not answer,
     logging to \$BOLNA_CACHE_DIR/dockerd/dockerd.log, and waits up to 60 s for it.

A dockerd started here is marked (\$BOLNA_CACHE_DIR/dockerd/started-here), so the
test command stops what it started and nothing else:

  hack/install-docker.sh --stop-if-started-here
      stops dockerd (and its containerd) only when this script started it.

A machine whose engine runs under systemd, or a developer's own, is left alone.
Needs root (or sudo) to install and to start the engine. Progress goes to stdout.
USAGE
}

cache=${BOLNA_CACHE_DIR:-$HOME/.cache/bolna-sip-operator}
state="$cache/dockerd"
say() { printf '    %s\n' "$*"; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "install-docker: need root (or sudo) to run: $*" >&2; exit 1
  fi
}
answers() { docker info >/dev/null 2>&1; }

stop_if_started_here() {
  [ -f "$state/started-here" ] || return 0
  local pid
  pid=$(cat "$state/dockerd.pid" 2>/dev/null || true)
  rm -f "$state/started-here"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    say "stopping the dockerd this setup started (pid $pid)"
    as_root kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    say "dockerd did not stop in 30 s; killing it"
    as_root kill -KILL "$pid" || true
  fi
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --stop-if-started-here) stop_if_started_here; exit 0 ;;
  "") ;;
  *) echo "usage: hack/install-docker.sh [--stop-if-started-here|--help]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (Debian packages)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if answers; then
  say "the Docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
[ -x "$dockerd" ] || { echo "install-docker: no dockerd found after installing docker.io" >&2; exit 1; }
mkdir -p "$state"
say "starting dockerd in the background (log: $state/dockerd.log)"
# setsid: the engine outlives this script and the shell that ran it; the test command
# stops it with --stop-if-started-here.
as_root setsid "$dockerd" --pidfile "$state/dockerd.pid" >"$state/dockerd.log" 2>&1 < /dev/null &
touch "$state/started-here"
for _ in $(seq 1 120); do
  if answers; then
    say "the Docker engine answers ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
echo "install-docker: dockerd did not answer within 60 s; its log ends with:" >&2
tail -n 20 "$state/dockerd.log" >&2
exit 1
