#!/usr/bin/env bash
# Sticky sessions, tried for real on this machine without Docker: two Streamlit replicas of app.py
# on loopback behind a local nginx that uses deploy/nginx/rnnviz.conf unchanged (only its listen
# address is rewritten) and deploy/nginx/upstream.conf with the replica addresses swapped for
# 127.0.0.1 ports. Then deploy/check_proxy.py drives headless Chromium through the proxy and reads
# nginx's access log to see which replica served every request of every browser.
# Needs: nginx (apt-get install -y nginx-light), /usr/bin/chromium, the repo's .venv.
# Usage: deploy/try_local_proxy.sh [BROWSERS]   (default 6 browser sessions)
#        RNNVIZ_PROXY_CHECKS=classroom deploy/try_local_proxy.sh   (only the classroom across replicas)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BROWSERS=${1:-6}
command -v nginx >/dev/null || { echo "try_local_proxy: nginx not found (apt-get install -y nginx-light)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/rnnviz-proxy.XXXXXX)
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT_A=$(free_port); PORT_B=$(free_port); PROXY_PORT=$(free_port)
PIDS=()
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

export STREAMLIT_SERVER_COOKIE_SECRET=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')
export OMP_NUM_THREADS=1
export RNNVIZ_LAB_JOBS=1  # one lab job per replica, so the check sees the bound compose across replicas
export RNNVIZ_DATA_HOME="$WORK/data"  # one classroom database for both replicas, as compose's volume
for port in "$PORT_A" "$PORT_B"; do
  "$PY" -m streamlit run app.py --server.headless true --server.address 127.0.0.1 --server.port "$port" \
    --server.fileWatcherType none --browser.gatherUsageStats false >"$WORK/replica-$port.log" 2>&1 &
  PIDS+=($!)
done

sed -e "s/server app1:8501/server 127.0.0.1:$PORT_A/" -e "s/server app2:8501/server 127.0.0.1:$PORT_B/" \
    -e "/server app3:8501/d" deploy/nginx/upstream.conf >"$WORK/upstream.conf"
sed -e "s/listen 80;/listen 127.0.0.1:$PROXY_PORT;/" deploy/nginx/rnnviz.conf >"$WORK/rnnviz.conf"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 1024; }
http {
    log_format replica '\$rnnviz_affinity \$upstream_addr \$status "\$request"';
    access_log $WORK/access.log replica;
    client_body_temp_path $WORK/client_body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    include $WORK/upstream.conf;
    include $WORK/rnnviz.conf;
}
CONF
echo "== nginx -t on deploy/nginx/rnnviz.conf + upstream.conf (replicas on 127.0.0.1:$PORT_A and :$PORT_B)"
nginx -t -c "$WORK/nginx.conf" 2>&1
nginx -c "$WORK/nginx.conf"

for port in "$PORT_A" "$PORT_B"; do
  for _ in $(seq 1 120); do
    "$PY" -c 'import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=2)' "http://127.0.0.1:$port/_stcore/health" 2>/dev/null && break
    sleep 0.5
  done
done
echo "== through the proxy: /_stcore/health -> $("$PY" -c 'import urllib.request, sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$PROXY_PORT/_stcore/health")"
CHECKS=${RNNVIZ_PROXY_CHECKS:-sessions classroom}  # sticky sessions and the lab; one room across replicas
if [[ " $CHECKS " == *" sessions "* ]]; then
  "$PY" deploy/check_proxy.py "http://127.0.0.1:$PROXY_PORT" "$WORK/access.log" "$BROWSERS" "127.0.0.1:$PORT_A" "127.0.0.1:$PORT_B"
fi
if [[ " $CHECKS " == *" classroom "* ]]; then
  "$PY" deploy/check_classroom_proxy.py "http://127.0.0.1:$PROXY_PORT" "$WORK/access.log" 40 "127.0.0.1:$PORT_A" "127.0.0.1:$PORT_B"
fi
