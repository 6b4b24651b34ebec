#!/usr/bin/env bash
# The local cluster: a real etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler on this machine, built from the Go module proxy (hack/build-binaries.sh),
# and nats-server with JetStream (file storage) for async invocations, reachable from pods
# as the Service updraft-nats.updraft-system (hack/nats-service.yaml).
#   hack/cluster.sh up|down|status|env|clean
# State (certificates, kubeconfigs, etcd data, pids, logs) lives in $UPDRAFT_CLUSTER_DIR
# (default: .cluster/ in the work tree, git-ignored). `up` is idempotent and recovers
# from a run that was killed: stale pids are detected by pid + command line, and anything
# of ours still holding a port is stopped before starting again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
cache=${UPDRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/updraft}
bin=$cache/bin
dir=${UPDRAFT_CLUSTER_DIR:-$root/.cluster}
pki=$dir/pki
logs=$dir/logs
run=$dir/run
bridge=${UPDRAFT_BRIDGE:-updraft0}
bridge_cidr=${UPDRAFT_BRIDGE_CIDR:-10.244.0.1/16}
bridge_ip=${bridge_cidr%/*}
service_cidr=10.96.0.0/16
etcd_port=23790
etcd_peer_port=23800
nats_port=4222
nats_http_port=8222
apiserver_port=${UPDRAFT_APISERVER_PORT:-6443}
kubeconfig=$dir/admin.kubeconfig
node_name=${UPDRAFT_NODE_NAME:-updraft-local}
node_state=${UPDRAFT_NODE_STATE_DIR:-/run/updraft-node}

say() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# is_ours <name>: the pid in run/<name>.pid is alive and is still the binary we started.
is_ours() {
  local f=$run/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -d /proc/$pid ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$bin/$1-" || return 1
}

stop_one() {
  local name=$1 f=$run/$1.pid pid
  if is_ours "$name"; then
    pid=$(<"$f")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# Stops any process still running one of our cached binaries (or a host-run Updraft
# component of this tree): what a killed run can leave behind without a pid file. Another
# instance of these binaries would hold our ports anyway.
stop_strays() {
  local pids
  pids=$( (pgrep -f -- "^$bin/(etcd|kube-apiserver|kube-controller-manager|kube-scheduler|nats-server)-" || true; pgrep -f -- "$root/src/cmd/" || true) | sort -u)
  [[ -z $pids ]] && return 0
  say "stopping stray processes: $(echo "$pids" | tr '\n' ' ')"
  kill -TERM $pids 2>/dev/null || true
  sleep 1
  kill -KILL $pids 2>/dev/null || true
}

ensure_bridge() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  ip addr show dev "$bridge" | grep -q " $bridge_cidr " || ip addr add "$bridge_cidr" dev "$bridge" 2>/dev/null || true
  ip link set "$bridge" up
}

gen_pki() {
  mkdir -p "$pki"
  (
    cd "$pki"
    if [[ ! -f ca.crt ]]; then
      say "generating certificates in $pki"
      openssl genrsa -out ca.key 2048 2>/dev/null
      openssl req -x509 -new -nodes -key ca.key -subj "/CN=updraft-local-ca" -days 3650 -out ca.crt 2>/dev/null
      openssl genrsa -out sa.key 2048 2>/dev/null
      openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    fi
    # cert <name> <subject> <extensions>: made once, kept across restarts
    cert() {
      [[ -f $1.crt ]] && return 0
      openssl genrsa -out "$1.key" 2048 2>/dev/null
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$bridge_ip,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    client="basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    cert admin "/O=system:masters/CN=admin" "$client"
    cert controller-manager "/CN=system:kube-controller-manager" "$client"
    cert scheduler "/CN=system:kube-scheduler" "$client"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
    # The node agent: a kubelet's identity (Node authorizer) and its serving certificate.
    cert node "/O=system:nodes/CN=system:node:$node_name" "$client"
    cert node-serving "/CN=system:node:$node_name" "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$bridge_ip,IP:127.0.0.1,DNS:$node_name"
  )
}

write_kubeconfig() { # file user
  local f=$1 user=$2
  cat >"$f" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $pki/ca.crt
users:
- name: $user
  user:
    client-certificate: $pki/$user.crt
    client-key: $pki/$user.key
contexts:
- name: local
  context: {cluster: local, user: $user}
current-context: local
KC
}

start() { # name args...
  local name=$1; shift
  if is_ours "$name"; then return 0; fi
  "$bin/$name-$(version_of "$name")" "$@" >>"$logs/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
  say "started $name (pid $!), log $logs/$name.log"
}

version_of() {
  case $1 in etcd) echo "$ETCD_VERSION" ;; nats-server) echo "$NATS_VERSION" ;; *) echo "$K8S_VERSION" ;; esac
}

wait_for() { # what timeout-seconds command...
  local what=$1 t=$2; shift 2
  local deadline=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not healthy after ${t}s (see $logs)"
    sleep 0.5
  done
}

apiserver_healthy() {
  curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$apiserver_port/readyz" | grep -q ok
}

up() {
  local t0=$SECONDS
  "$root/hack/build-binaries.sh" k8s
  "$root/hack/build-binaries.sh" etcd
  "$root/hack/build-binaries.sh" nats
  mkdir -p "$logs" "$run" "$dir/etcd" "$dir/nats"
  # A previous run may have been killed: drop pid files of dead processes and stop
  # whatever of ours is still running without one.
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler nats-server; do
    is_ours "$c" || rm -f "$run/$c.pid"
  done
  if ! is_ours kube-apiserver; then stop_strays; fi
  ensure_bridge
  gen_pki
  write_kubeconfig "$kubeconfig" admin
  write_kubeconfig "$dir/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$dir/scheduler.kubeconfig" scheduler
  write_kubeconfig "$dir/node.kubeconfig" node

  start etcd --name=updraft --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="updraft=http://127.0.0.1:$etcd_peer_port" --unsafe-no-fsync --log-level=warn \
    --quota-backend-bytes=4294967296
  wait_for etcd 60 curl -sf "http://127.0.0.1:$etcd_port/health"

  # JetStream with file storage under the cluster dir: accepted async events survive a
  # restart of nats-server. On the bridge address, so pods reach it too.
  start nats-server --jetstream --store_dir="$dir/nats" --addr="$bridge_ip" --port="$nats_port" \
    --http_port="$nats_http_port" --server_name=updraft-local
  wait_for nats-server 60 curl -sf "http://$bridge_ip:$nats_http_port/healthz?js-enabled-only=true"

  start kube-apiserver --etcd-servers="http://127.0.0.1:$etcd_port" \
    --secure-port="$apiserver_port" --bind-address=0.0.0.0 --advertise-address="$bridge_ip" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=Node,RBAC --kubelet-preferred-address-types=InternalIP --service-cluster-ip-range="$service_cidr" --allow-privileged=true \
    --enable-admission-plugins=NamespaceLifecycle,ServiceAccount,LimitRanger,ResourceQuota,DefaultStorageClass \
    --cert-dir="$pki/apiserver-generated" \
    --audit-policy-file="$root/hack/audit-policy.yaml" --audit-log-path="$logs/audit.log" \
    --audit-log-maxsize=200 --audit-log-maxbackup=1 \
    --profiling=false --v=1
  wait_for kube-apiserver 120 apiserver_healthy

  start kube-controller-manager --kubeconfig="$dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$dir/controller-manager.kubeconfig" --authorization-kubeconfig="$dir/controller-manager.kubeconfig" \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --use-service-account-credentials --controllers='*' --service-cluster-ip-range="$service_cidr" \
    --kube-api-qps=200 --kube-api-burst=400 --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 \
    --leader-elect=false --secure-port=0 --v=1
  start kube-scheduler --kubeconfig="$dir/scheduler.kubeconfig" \
    --authentication-kubeconfig="$dir/scheduler.kubeconfig" --authorization-kubeconfig="$dir/scheduler.kubeconfig" \
    --kube-api-qps=200 --kube-api-burst=400 --leader-elect=false --secure-port=0 --v=1
  # The default ServiceAccount appearing proves the controller-manager is working.
  wait_for "kube-controller-manager" 120 kctl -n default get serviceaccount default
  # A kubelet-like agent also reads EndpointSlices (as kube-proxy does).
  kctl apply -f "$root/hack/node-rbac.yaml" >/dev/null
  sed "s/@NATS_IP@/$bridge_ip/; s/@NATS_PORT@/$nats_port/" "$root/hack/nats-service.yaml" | kctl apply -f - >/dev/null
  start_node
  wait_for "node $node_name Ready" 60 node_ready
  say "cluster up in $((SECONDS - t0)) s — eval \"\$(make -s cluster-env)\""
}

node_ready() {
  [[ $(kctl get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# The node agent runs as root on the host (it makes namespaces, veths, mounts, cgroups).
start_node() {
  local f=$run/updraft-node.pid
  if [[ -f $f ]] && [[ -d /proc/$(<"$f") ]] && tr '\0' ' ' <"/proc/$(<"$f")/cmdline" | grep -q -- "$root/src/cmd/node/"; then
    return 0
  fi
  local node_bin
  node_bin=$("$root/hack/ensure-node.sh")
  KUBECONFIG="$dir/node.kubeconfig" UPDRAFT_NODE_NAME="$node_name" UPDRAFT_NODE_IP="$bridge_ip" \
    UPDRAFT_BRIDGE="$bridge" UPDRAFT_POD_CIDR="${bridge_ip%.*.*}.0.0/16" UPDRAFT_NODE_STATE_DIR="$node_state" \
    UPDRAFT_KUBELET_TLS_CERT="$pki/node-serving.crt" UPDRAFT_KUBELET_TLS_KEY="$pki/node-serving.key" \
    UPDRAFT_CLIENT_CA="$pki/ca.crt" UPDRAFT_RESTART_BACKOFF_MS="${UPDRAFT_RESTART_BACKOFF_MS:-10000}" \
    nohup "$node_bin/node" "$root/src/cmd/node/main.ts" >>"$logs/updraft-node.log" 2>&1 &
  echo $! >"$f"
  say "started updraft-node (pid $!), log $logs/updraft-node.log"
}

# What a killed node agent can leave: pod processes (in our cgroups), network namespaces,
# veths, mounts under the state dir, cgroups, the Service device.
cleanup_node_leftovers() {
  local cg=/sys/fs/cgroup/memory/updraft p m ns
  if [[ -d $cg ]]; then
    for p in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  fi
  for ns in $(ip netns list 2>/dev/null | awk '/^updraft-/{print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  for m in $(ip -o link show 2>/dev/null | grep -oE '^[0-9]+: uv[0-9a-f]{12}' | awk '{print $2}'); do ip link del "$m" 2>/dev/null || true; done
  for m in $(awk -v d="$node_state/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$node_state"
  ip link del updraft-svc 2>/dev/null || true
}

kctl() { "$bin/kubectl-$K8S_VERSION" --kubeconfig="$kubeconfig" "$@"; }

# Host-run Updraft components (hack/up.sh starts them until the node agent runs them as pods).
stop_components() {
  local f pid
  for f in "$run"/updraft-*.pid; do
    [[ -f $f ]] || continue
    pid=$(<"$f")
    if [[ -d /proc/$pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$root/src/cmd/"; then
      kill -TERM "$pid" 2>/dev/null || true
      # The node agent stops its pods on TERM; give it time to.
      for _ in $(seq 1 150); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

down() {
  stop_components
  cleanup_node_leftovers
  for c in kube-scheduler kube-controller-manager kube-apiserver etcd nats-server; do stop_one "$c"; done
  stop_strays
  if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge" 2>/dev/null || true; fi
  say "cluster down"
}

status() {
  local rc=0
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler nats-server; do
    if is_ours "$c"; then printf '%-26s running (pid %s)\n' "$c" "$(<"$run/$c.pid")"
    else printf '%-26s stopped\n' "$c"; rc=1; fi
  done
  if node_ready; then echo "node $node_name          Ready"; else echo "node $node_name          not ready"; rc=1; fi
  if apiserver_healthy; then echo "apiserver                  ready at https://127.0.0.1:$apiserver_port"
  else echo "apiserver                  not ready"; rc=1; fi
  return $rc
}

env_() {
  mkdir -p "$dir/path"
  ln -sf "$bin/kubectl-$K8S_VERSION" "$dir/path/kubectl"
  [[ -x $bin/helm-$HELM_VERSION ]] && ln -sf "$bin/helm-$HELM_VERSION" "$dir/path/helm"
  echo "export KUBECONFIG=$kubeconfig"
  echo "export UPDRAFT_CLUSTER_DIR=$dir"
  echo "export UPDRAFT_NATS_URL=nats://$bridge_ip:$nats_port"
  echo "export PATH=$dir/path:$root/bin:\$PATH"
  # The activator's ClusterIP: the agent proxies it on this machine.
  local ip
  ip=$(kctl -n updraft-system get service updraft-activator -o jsonpath='{.spec.clusterIP}' 2>/dev/null || true)
  [[ -n $ip ]] && echo "export UPDRAFT_URL=http://$ip:8080"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) env_ ;;
  clean) down; rm -rf "$dir" ;;
  *) echo "usage: $0 up|down|status|env|clean" >&2; exit 2 ;;
esac
