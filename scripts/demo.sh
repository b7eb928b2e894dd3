#!/usr/bin/env bash
# make demo: start the server (embedded store) and the mock SFU with four
# participants recording; Ctrl-C stops both and finalizes the files.
set -euo pipefail
cd "$(dirname "$0")/.."
HTTP=${STREAMLINE_HTTP:-127.0.0.1:8080}
DATA=${STREAMLINE_DATA:-./recordings}
ROOM=${DEMO_ROOM:-demo}

# The server gets its own session: Ctrl-C reaches the mock SFU first, which
# stops its recording, and only then does the cleanup stop the server.
setsid bin/streamline serve --http "$HTTP" --data "$DATA" &
server=$!
mocker=""
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping: the mock SFU ends its recording, the server finalizes every file"
  [ -n "$mocker" ] && kill -INT "$mocker" 2>/dev/null && wait "$mocker" 2>/dev/null || true
  kill -INT "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  echo "==> recordings are in $DATA/$ROOM/ (manifest.json next to the files)"
  find "$DATA/$ROOM" -type f 2>/dev/null | sort | sed 's/^/    /' || true
}
trap cleanup INT TERM EXIT

for _ in $(seq 1 100); do
  curl -fsS "http://$HTTP/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "server failed to start" >&2; exit 1; }
  sleep 0.1
done

cat <<MSG

  ================================================================
   Streamline demo is running (no authentication: local use only)
   Dashboard:   http://$HTTP/
   API:         http://$HTTP/v1/rooms
   Recordings:  $DATA/$ROOM/<recording-id>/  (+ manifest.json)
   Press Ctrl-C to stop; files are finalized on exit.
  ================================================================

MSG

bin/mocker --server "http://$HTTP" --room "$ROOM" --participants 4 --record &
mocker=$!
wait "$mocker" || true
mocker=""
wait "$server"
