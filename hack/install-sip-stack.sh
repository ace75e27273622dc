#!/usr/bin/env bash
# Install Kamailio, sipp (Debian's sip-tester) and dnsmasq for the tests and the local stack.
# Idempotent; see --help.
set -euo pipefail

PACKAGES=(kamailio kamailio-tls-modules sip-tester dnsmasq-base)

usage() {
  cat <<USAGE
Usage: hack/install-sip-stack.sh [--help]

Installs the real SIP parts the integration tests start on loopback:
  kamailio     the SIP edge (Debian bookworm ships 5.6.3); every module the
               project's deploy/kamailio/kamailio.cfg loads is in this package
  kamailio-tls-modules
               tls.so: the edge's TLS towards carriers (WITH_TLS) and the TLS
               carrier of the tests (tests/integration/tls/carrier.cfg)
  sip-tester   sipp, which plays the SIP gateways and places test calls
  dnsmasq-base dnsmasq alone (no service): a DNS server on loopback that serves
               the gateway names of the hostname tests (the machine may have no
               resolver of its own)

Idempotent: when every package is already installed the script
does nothing. Otherwise it runs 'apt-get update' only if apt does not know the
packages yet, then 'apt-get install -y --no-install-recommends'.

The tests run Kamailio by hand in the foreground, with their own config and
ports. The Debian package's own service must not run alongside them (it would
listen on the SIP port 5060 of every address), so the script stops it if the
package started it and disables it in /etc/default/kamailio when that file has
the switch.

Needs root (or sudo) for apt-get. Progress goes to stdout.
USAGE
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "usage: hack/install-sip-stack.sh [--help]" >&2; exit 2 ;;
esac

say() { printf '    %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "install-sip-stack: need root (or sudo) to run: $*" >&2
    exit 1
  fi
}

installed() {  # a package is installed when dpkg says so
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

known_to_apt() {  # apt has an install candidate for the package
  local candidate
  candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

stop_packaged_service() {
  # The package's init script may have started a kamailio as a daemon; its PID file is
  # the one the Debian service uses. Stop exactly that process, nothing else.
  local pidfile pid
  for pidfile in /run/kamailio/kamailio.pid /var/run/kamailio/kamailio.pid; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
        && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = kamailio ]; then
      say "stopping the packaged kamailio service (PID $pid)"
      if command -v service >/dev/null 2>&1; then
        as_root service kamailio stop >/dev/null 2>&1 || true
      fi
      if kill -0 "$pid" 2>/dev/null; then
        as_root kill "$pid" || true
      fi
    fi
  done
  # Keep it from starting at boot or on the next package upgrade, where that switch exists.
  if [ -f /etc/default/kamailio ] && grep -q '^RUN_KAMAILIO=yes' /etc/default/kamailio; then
    say "disabling the packaged service in /etc/default/kamailio"
    as_root sed -i 's/^RUN_KAMAILIO=yes/RUN_KAMAILIO=no/' /etc/default/kamailio
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now kamailio.service >/dev/null 2>&1 || true
  fi
}

missing=()
for package in "${PACKAGES[@]}"; do
  if installed "$package"; then
    say "$package: installed"
  else
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  need_update=no
  for package in "${missing[@]}"; do
    known_to_apt "$package" || need_update=yes
  done
  if [ "$need_update" = yes ]; then
    say "apt does not know ${missing[*]} yet: apt-get update"
    as_root apt-get update -qq
  fi
  say "apt-get install ${missing[*]}"
  if ! as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    # Package lists that are merely old name versions the archive no longer has.
    say "install failed; refreshing the package lists and trying once more"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

stop_packaged_service

kamailio_version() {
  local binary=/usr/sbin/kamailio
  command -v kamailio >/dev/null 2>&1 && binary=$(command -v kamailio)
  "$binary" -v 2>/dev/null | sed -n 's/^version: //p' | head -n 1
}

for binary in kamailio sipp dnsmasq; do
  path=$(command -v "$binary" 2>/dev/null || true)
  if [ -z "$path" ] && [ -x "/usr/sbin/$binary" ]; then
    path=/usr/sbin/$binary
  fi
  if [ -z "$path" ]; then
    echo "install-sip-stack: $binary is still missing after the install" >&2
    exit 1
  fi
  say "$binary: $path"
done
say "$(kamailio_version)"
