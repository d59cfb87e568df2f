#!/usr/bin/env bash
# `make run`: migrate the embedded SQLite database, start `epim serve` (API + runner), submit
# the quick-start study through the API, print where to browse its front, serve until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${EPIM_HOST:-127.0.0.1}
PORT=${EPIM_PORT:-8000}
SPEC=${EPIM_SPEC:-examples/studies/quickstart.yaml}

"$BIN/epim" db upgrade
"$BIN/epim" serve --host "$HOST" --port "$PORT" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 120); do
  if "$BIN/python" -c "import urllib.request,sys; urllib.request.urlopen('http://$HOST:$PORT/healthz', timeout=2)" 2>/dev/null; then
    break
  fi
  kill -0 "$SERVER" 2>/dev/null || { echo "epim serve exited" >&2; exit 1; }
  sleep 0.5
done

# The same spec file gets the same key: a second `make run` shows the study the first one
# submitted instead of making an identical one (a key whose study was deleted: a new study).
KEY="make-run-$(sha256sum "$SPEC" | cut -c1-16)"
"$BIN/epim" submit "$SPEC" --url "http://$HOST:$PORT" --idempotency-key "$KEY" 2>/dev/null \
  || "$BIN/epim" submit "$SPEC" --url "http://$HOST:$PORT"
echo
echo "All studies: http://$HOST:$PORT/ui/   API docs: http://$HOST:$PORT/docs"
echo "The study runs in the background (a few minutes); its page updates as trials finish,"
echo "and this terminal prints a line per stored batch and one when the study ends."
echo "Serving until Ctrl-C."
wait "$SERVER"
