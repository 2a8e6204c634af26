# Several ticketd instances behind HAProxy on one machine, sharing one
# Postgres and one Kafka: sourced by tools/cluster and tools/bench/flash-sale.
#
# The Kafka is the first instance's embedded cluster (librdkafka's mock
# brokers), as the two-instance e2e tests do; the other instances are told its
# bootstrap address. So instance 1 is the one not to kill in a failover drill:
# with real brokers (kafka.brokers) any instance may go.
#
# Needs: cluster_bin (the ticketd binary), cluster_config (its --config file),
# cluster_dir (a scratch directory), TICKETD_DATABASE_URL in the environment.
# Sets: cluster_lb_port (HAProxy's frontend), cluster_stats_port, cluster_ports[i],
# cluster_pids[i] for i = 1..N, cluster_bootstrap.

cluster_free_port() {
  local port
  for _ in $(seq 200); do
    # Below the ephemeral range (32768+), so that a client's reconnect cannot
    # take the port of an instance that is down (TCP simultaneous open).
    port=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "cluster: no free port" >&2
  return 1
}

# cluster_instance_start I: starts instance I (1-based) and waits until it is ready.
cluster_instance_start() {
  local i=$1 attempt
  for attempt in 1 2 3; do
    (
      export TICKETD_SERVER_PORT=${cluster_ports[$i]}
      export TICKETD_EDGE_TRUSTED_PROXIES=127.0.0.1/32
      export TICKETD_PAYMENT_SANDBOX_LISTEN=127.0.0.1:0  # each instance its own sandbox listener (a free port)
      if [ "$i" -gt 1 ]; then
        export TICKETD_KAFKA_BROKERS=$cluster_bootstrap
      else
        export TICKETD_LOG_LEVEL=info  # its "embedded kafka started" line names the bootstrap address
      fi
      exec "$cluster_bin" --config "$cluster_config" >>"$cluster_dir/ticketd-$i.log" 2>&1
    ) &
    cluster_pids[$i]=$!
    for _ in $(seq 900); do
      if curl -fsS -o /dev/null "http://127.0.0.1:${cluster_ports[$i]}/readyz" 2>/dev/null; then
        if [ "$i" -eq 1 ]; then
          cluster_bootstrap=$(grep -o '"bootstrap":"[^"]*"' "$cluster_dir/ticketd-1.log" | tail -1 | cut -d'"' -f4)
          [ -n "$cluster_bootstrap" ] || { echo "cluster: instance 1 shows no embedded Kafka (kafka.brokers = \"embedded\"?)" >&2; return 1; }
        fi
        return 0
      fi
      kill -0 "${cluster_pids[$i]}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${cluster_pids[$i]}" 2>/dev/null; then
      echo "cluster: instance $i not ready" >&2
      return 1
    fi
    tail -5 "$cluster_dir/ticketd-$i.log" >&2
    echo "cluster: instance $i exited at start (attempt $attempt); retrying" >&2
    sleep 2
  done
  return 1
}

# cluster_start N: N instances, then HAProxy in front of them.
cluster_start() {
  local n=$1 i
  cluster_n=$n
  mkdir -p "$cluster_dir"
  for i in $(seq 1 "$n"); do cluster_ports[$i]=$(cluster_free_port); done
  cluster_lb_port=${CLUSTER_LB_PORT:-$(cluster_free_port)}
  cluster_stats_port=$(cluster_free_port)
  for i in $(seq 1 "$n"); do cluster_instance_start "$i" || return 1; done
  # Two descriptors per proxied connection, within this process's limit.
  local maxconn=$(( $(ulimit -n) / 2 - 64 ))
  {
    cat <<EOF
global
  maxconn $maxconn
  log stdout format raw local0 warning
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 60s
  option http-server-close
  option redispatch
  retries 2
  # An SSE stream may stay open for hours.
  timeout tunnel 1h
frontend api
  bind 127.0.0.1:$cluster_lb_port
  option forwardfor
  default_backend ticketd
backend ticketd
  balance roundrobin
  # /readyz: 503 while an instance drains or cannot reach Postgres; checked
  # every 500 ms, out after 2 misses, back after 2 passes.
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
EOF
    for i in $(seq 1 "$n"); do echo "  server t$i 127.0.0.1:${cluster_ports[$i]} check"; done
    cat <<EOF
listen stats
  bind 127.0.0.1:$cluster_stats_port
  stats enable
  stats uri /stats
  stats refresh 1s
EOF
  } >"$cluster_dir/haproxy.cfg"
  haproxy -c -q -f "$cluster_dir/haproxy.cfg" || return 1
  haproxy -db -f "$cluster_dir/haproxy.cfg" >>"$cluster_dir/haproxy.log" 2>&1 &
  cluster_haproxy_pid=$!
  for _ in $(seq 100); do
    if [ "$(cluster_up_count)" -eq "$n" ]; then return 0; fi
    sleep 0.1
  done
  echo "cluster: HAProxy does not see all $n instances up" >&2
  tail -5 "$cluster_dir/haproxy.log" >&2
  return 1
}

# HAProxy's view, CSV: pxname,svname,…,status(18th),…
cluster_stats_csv() { curl -fsS "http://127.0.0.1:$cluster_stats_port/stats;csv" 2>/dev/null; }
cluster_up_count() { cluster_stats_csv | awk -F, '$1 == "ticketd" && $2 ~ /^t[0-9]+$/ && $18 == "UP" {n++} END {print n + 0}'; }
cluster_server_status() { cluster_stats_csv | awk -F, -v s="t$1" '$1 == "ticketd" && $2 == s {print $18}'; }
# Requests each instance received through HAProxy: "t1=… t2=…".
cluster_requests() { cluster_stats_csv | awk -F, '$1 == "ticketd" && $2 ~ /^t[0-9]+$/ {printf "%s%s=%s", sep, $2, $8; sep=" "}'; }

cluster_kill9() { kill -KILL "${cluster_pids[$1]}" 2>/dev/null; wait "${cluster_pids[$1]}" 2>/dev/null || true; }

# Stops everything this library started (SIGTERM: instances drain).
cluster_stop() {
  local i
  if [ -n "${cluster_haproxy_pid:-}" ]; then
    kill -TERM "$cluster_haproxy_pid" 2>/dev/null || true
    wait "$cluster_haproxy_pid" 2>/dev/null || true  # 143: it ended on our SIGTERM
  fi
  cluster_haproxy_pid=""
  for i in "${!cluster_pids[@]}"; do
    if kill -0 "${cluster_pids[$i]}" 2>/dev/null; then kill -TERM "${cluster_pids[$i]}"; fi
  done
  for i in "${!cluster_pids[@]}"; do wait "${cluster_pids[$i]}" 2>/dev/null || true; done
  cluster_pids=()
}
