#!/usr/bin/env bash
# Tear down the local stack that hack/up.sh started: SIGTERM its supervisor, which
# stops every piece; then kill anything it left, by recorded PID. Keeps the logs
# (.local-stack/logs/, or $BOLNA_STACK_DIR/logs/). Does nothing, and says so, when
# nothing is up.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: hack/down.sh [--help]" >&2; exit 2 ;;
esac

if [ ! -x .venv/bin/python ]; then
  echo "==> the local stack is not up (no .venv: hack/up.sh was never run here)"
  exit 0
fi
exec .venv/bin/python -m bolna_devenv.stack down
