#!/usr/bin/env bash
# The local cluster: a real Kubernetes on this machine. Control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) and one node (kubelet and kube-proxy over Debian's
# containerd and runc, CNI bridge networking), built from the Go module proxy
# (hack/build-binaries.sh); an OCI registry on localhost:5000 that containerd pulls from
# (images built by hack/images.sh); CoreDNS and a default StorageClass (hack/addons/);
# kube-router's firewall, which enforces NetworkPolicies.
#   hack/cluster.sh up|down|status|env|clean
# State (certificates, kubeconfigs, etcd data, containerd's store, pids, logs) lives in
# $UPDRAFT_CLUSTER_DIR (default: .cluster/ in the work tree, git-ignored); the registry's
# blobs and the build caches live in ~/.cache/updraft, so a fresh clone reuses them. `up` is
# idempotent and recovers from a run that was killed: stale pids are detected by pid + command
# line, and containers, network namespaces, mounts, cgroups and iptables chains left by a
# killed node are removed before it starts again.
# Beside it, as host processes on the bridge address, the brokers for triggers (Kafka,
# RabbitMQ, a NATS for users, an S3 gateway): hack/brokers.sh.
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
# Runtime state with short paths (socket path limits) that must not outlive the machine.
rundir=/run/updraft
bridge=${UPDRAFT_BRIDGE:-updraft0}
bridge_cidr=${UPDRAFT_BRIDGE_CIDR:-10.244.0.1/16}
bridge_ip=${bridge_cidr%/*}
pod_cidr=10.244.0.0/16
service_cidr=10.96.0.0/16
dns_ip=10.96.0.10
etcd_port=23790
etcd_peer_port=23800
registry_addr=127.0.0.1:5000
apiserver_port=${UPDRAFT_APISERVER_PORT:-6443}
kubeconfig=$dir/admin.kubeconfig
# kubectl's discovery cache, kept with the cluster it describes: a cache in ~/.kube outlives
# a cluster rebuilt under the same address and can name resources it no longer serves.
export KUBECACHEDIR=$dir/kube-cache
node_name=${UPDRAFT_NODE_NAME:-updraft-local}
containerd_sock=$rundir/containerd/containerd.sock
COMPONENTS=(etcd registry kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy kube-router)

say() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The binary each component runs (containerd is Debian's; the rest are cached builds).
binary_of() {
  case $1 in
    etcd) echo "$bin/etcd-$ETCD_VERSION" ;;
    kube-router) echo "$bin/kube-router-$KUBE_ROUTER_VERSION" ;;
    registry) echo "$bin/registry-$REGISTRY_VERSION" ;;
    containerd) command -v containerd ;;
    *) echo "$bin/$1-$K8S_VERSION" ;;
  esac
}

# is_ours <name>: the pid in run/<name>.pid is alive and is still the binary we started.
is_ours() {
  local f=$run/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -d /proc/$pid ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "^$(binary_of "$1") " || return 1
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

# Stops any process still running one of our binaries without a pid file: what a killed run
# can leave behind. Another instance of these would hold our ports anyway.
stop_strays() {
  local pids
  pids=$( (pgrep -f -- "^$bin/(etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kube-router|registry|nats-server)-" || true
    pgrep -f -- "containerd --config $dir/" || true) | sort -u)
  [[ -z $pids ]] && return 0
  say "stopping stray processes: $(echo "$pids" | tr '\n' ' ')"
  kill -TERM $pids 2>/dev/null || true
  sleep 1
  kill -KILL $pids 2>/dev/null || true
}

ensure_host_network() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  ip addr show dev "$bridge" | grep -q " $bridge_cidr " || ip addr add "$bridge_cidr" dev "$bridge" 2>/dev/null || true
  ip link set "$bridge" up
  # ClusterIPs are routed to the bridge: before kube-proxy has a Service's rules, a packet to
  # its address stays on this machine instead of leaving by the default route.
  ip route replace "$service_cidr" dev "$bridge"
  # kube-proxy's rules must see traffic between pods on the bridge, and pods' traffic to
  # Services is forwarded.
  modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.ipv4.ip_forward=1
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
    # The front proxy (aggregated APIs) has its own CA, as on kubeadm clusters.
    if [[ ! -f front-proxy-ca.crt ]]; then
      openssl genrsa -out front-proxy-ca.key 2048 2>/dev/null
      openssl req -x509 -new -nodes -key front-proxy-ca.key -subj "/CN=front-proxy-ca" -days 3650 -out front-proxy-ca.crt 2>/dev/null
    fi
    # cert <name> <subject> <extensions> [ca]: made once, kept across restarts
    cert() {
      [[ -f $1.crt ]] && return 0
      local ca=${4:-ca}
      openssl genrsa -out "$1.key" 2048 2>/dev/null
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 3650 \
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
    cert kube-proxy "/CN=system:kube-proxy" "$client"
    cert kube-router "/CN=system:kube-router" "$client"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
    cert front-proxy-client "/CN=front-proxy-client" "$client" front-proxy-ca
    # The kubelet: its client identity (Node authorizer) and its serving certificate.
    cert node "/O=system:nodes/CN=system:node:$node_name" "$client"
    cert node-serving "/CN=system:node:$node_name" "basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$bridge_ip,IP:127.0.0.1,DNS:$node_name"
  )
}

write_kubeconfig() { # file user
  local f=$1 user=$2
  put "$f" <<KC
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
  "$(binary_of "$name")" "$@" >>"$logs/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
  say "started $name (pid $!), log $logs/$name.log"
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

# put <file>: writes stdin to file only when the content differs (kube-proxy exits when its
# configuration file changes, even to the same bytes).
put() {
  local tmp=$1.tmp
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

write_node_config() {
  mkdir -p "$dir/containerd/root" "$dir/cni/net.d" "$dir/kubelet" "$dir/pod-logs" "$dir/storage" "$rundir/containerd"
  put "$dir/containerd/config.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$rundir/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$containerd_sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost:5000/pause:$PAUSE_VERSION"
  # This machine's root lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj to the
  # kubelet's -998 for sandboxes, so containerd keeps it at its own (as rootless does).
  restrict_oom_score_adj = true
  enable_unprivileged_ports = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
  # The local registry is plain HTTP. Images named on Docker Hub (debian, node, nats,
  # coredns, ...) are served from it too: they are made here under the same names.
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."localhost:5000"]
    endpoint = ["http://localhost:5000"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
    endpoint = ["http://localhost:5000"]
TOML
  put "$dir/cni/net.d/10-updraft.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "updraft",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "hairpinMode": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$rundir/cni",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$bridge_ip", "rangeStart": "10.244.1.0"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  put "$dir/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
address: $bridge_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/node-serving.crt
tlsPrivateKeyFile: $pki/node-serving.key
cgroupDriver: cgroupfs
# cgroup v1 on this machine: Kubernetes 1.34 warns, later releases refuse unless told.
failCgroupV1: false
clusterDNS: [$dns_ip]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podPidsLimit: 1024
maxPods: 250
serializeImagePulls: false
podLogsDir: $dir/pod-logs
containerLogMaxSize: 10Mi
containerLogMaxFiles: 2
# This machine's disk is shared with everything else: evict on real shortage only.
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
# Housekeeping often enough that an emptyDir over its sizeLimit is evicted within seconds.
evictionPressureTransitionPeriod: 10s
volumeStatsAggPeriod: 10s
syncFrequency: 10s
nodeStatusUpdateFrequency: 10s
shutdownGracePeriod: 0s
YAML
  put "$dir/kube-proxy-config.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $dir/kube-proxy.kubeconfig}
hostnameOverride: $node_name
mode: iptables
clusterCIDR: $pod_cidr
nodePortAddresses: [$bridge_ip/32]
bindAddress: $bridge_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the host's conntrack sysctls alone (this machine's root may not set them all).
conntrack: {maxPerCore: 0, min: 0}
iptables: {minSyncPeriod: 0s, syncPeriod: 30s}
YAML
  put "$dir/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $cache/registry}
  delete: {enabled: true}
http:
  addr: $registry_addr
YAML
}

up() {
  local t0=$SECONDS
  "$root/hack/install-packages.sh"
  # debootstrap is mostly download and unpack: it runs beside the Go builds, which take the
  # CPUs.
  "$root/hack/images.sh" rootfs & local rootfs_pid=$!
  "$root/hack/build-binaries.sh" all
  wait "$rootfs_pid" || die "debootstrap failed"
  mkdir -p "$logs" "$run" "$dir/etcd" "$rundir"
  # A previous run may have been killed: drop pid files of dead processes; if the node is
  # gone, clean what it left (containers, network namespaces, mounts, cgroups, chains).
  for c in "${COMPONENTS[@]}"; do is_ours "$c" || rm -f "$run/$c.pid"; done
  if ! is_ours kubelet || ! is_ours containerd; then
    stop_one kubelet; stop_one kube-router; stop_one kube-proxy; stop_one containerd
    cleanup_node_leftovers
  fi
  if ! is_ours kube-apiserver; then stop_strays; fi
  ensure_host_network
  # Kafka and RabbitMQ start now, beside the control plane; they are waited for at the end.
  brokers start
  gen_pki
  write_kubeconfig "$kubeconfig" admin
  for u in controller-manager scheduler node kube-proxy kube-router; do write_kubeconfig "$dir/$u.kubeconfig" "$u"; done
  write_node_config

  start etcd --name=updraft --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="updraft=http://127.0.0.1:$etcd_peer_port" --unsafe-no-fsync --log-level=warn \
    --quota-backend-bytes=4294967296
  start registry serve "$dir/registry.yml"
  wait_for etcd 60 curl -sf "http://127.0.0.1:$etcd_port/health"

  start kube-apiserver --etcd-servers="http://127.0.0.1:$etcd_port" \
    --secure-port="$apiserver_port" --bind-address=0.0.0.0 --advertise-address="$bridge_ip" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --requestheader-client-ca-file="$pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=Node,RBAC --kubelet-preferred-address-types=InternalIP --service-cluster-ip-range="$service_cidr" --allow-privileged=true \
    --enable-admission-plugins=NamespaceLifecycle,NodeRestriction,ServiceAccount,LimitRanger,ResourceQuota,DefaultStorageClass,PodSecurity \
    --cert-dir="$pki/apiserver-generated" \
    --audit-policy-file="$root/hack/audit-policy.yaml" --audit-log-path="$logs/audit.log" \
    --audit-log-maxsize=200 --audit-log-maxbackup=1 \
    --profiling=false --v=1
  # Images of the add-ons and the base images are built (or found cached) while the
  # apiserver starts.
  wait_for registry 30 curl -sf "http://$registry_addr/v2/"
  "$root/hack/images.sh" addons
  "$root/hack/images.sh" base
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

  start containerd --config "$dir/containerd/config.toml"
  wait_for containerd 30 test -S "$containerd_sock"
  start_kubelet
  start kube-proxy --config="$dir/kube-proxy-config.yaml" --v=1
  # The default ServiceAccount appearing proves the controller-manager is working.
  wait_for "kube-controller-manager" 120 kctl -n default get serviceaccount default
  wait_for "node $node_name Ready" 120 node_ready
  sed "s/@COREDNS_TAG@/${COREDNS_VERSION#v}/; s/@DNS_IP@/$dns_ip/" "$root/hack/addons/coredns.yaml" | kctl apply -f - >/dev/null
  sed "s/@LOCAL_PATH_TAG@/$LOCAL_PATH_VERSION/; s|@STORAGE_DIR@|$dir/storage|" "$root/hack/addons/local-path.yaml" | kctl apply -f - >/dev/null
  # NetworkPolicies: kube-router's firewall as a host process, once its user may read what
  # it needs (hack/addons/kube-router.yaml). It syncs on pod and policy events, but in a test
  # that replaced the activators it once went 260 s without one, so new activators stayed
  # out of the policies' allowed sources that long: a full sync every 5 s bounds that
  # (each takes 60–100 ms).
  kctl apply -f "$root/hack/addons/kube-router.yaml" >/dev/null
  NODE_NAME=$node_name start kube-router --run-firewall=true --run-router=false --run-service-proxy=false \
    --run-loadbalancer=false --kubeconfig="$dir/kube-router.kubeconfig" --hostname-override="$node_name" \
    --service-cluster-ip-range="$service_cidr" --service-node-port-range=30000-32767 \
    --enable-ipv4=true --enable-ipv6=false --health-port=0 --metrics-port=0 --v=1 \
    --iptables-sync-period=5s
  wait_for "CoreDNS" 120 kctl -n kube-system rollout status deployment/coredns --timeout=2s
  wait_for "kube-router's firewall" 60 kube_router_synced
  wait_for "local-path-provisioner" 120 kctl -n local-path-storage rollout status deployment/local-path-provisioner --timeout=2s
  brokers wait
  say "cluster up in $((SECONDS - t0)) s — eval \"\$(make -s cluster-env)\""
}

# containerd's socket answers before its CRI service is initialised, and a kubelet that
# asks too early exits ("server is not initialized yet"): start it again until its own
# health endpoint answers. (Waiting for the Node to be Ready is not enough: a Node object
# stays Ready for a while after its kubelet died.)
start_kubelet() {
  local deadline=$((SECONDS + 90))
  until curl -sf http://127.0.0.1:10248/healthz >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "kubelet not healthy after 90s (see $logs/kubelet.log)"
    if ! is_ours kubelet; then
      start kubelet --config="$dir/kubelet-config.yaml" --kubeconfig="$dir/node.kubeconfig" \
        --container-runtime-endpoint="unix://$containerd_sock" --node-ip="$bridge_ip" \
        --hostname-override="$node_name" --root-dir="$dir/kubelet" --v=1
    fi
    sleep 0.5
  done
}

node_ready() {
  [[ $(kctl get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# What a stopped or killed node leaves: container processes (containerd's shims and what
# runs under /kubepods), CNI network namespaces and their veths, mounts under the state
# folders, cgroups, kube-proxy's and the kubelet's iptables chains, host-local's leases.
cleanup_node_leftovers() {
  local p m ns cg
  for p in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $containerd_sock" || true); do kill -KILL "$p" 2>/dev/null || true; done
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ -d $cg ]] || continue
    for p in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  done
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ -d $cg ]] || continue
    for _ in 1 2 3 4 5; do find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true; [[ -d $cg ]] || break; sleep 0.2; done
  done
  for m in $(awk -v a="$dir/" -v b="$rundir/" '(index($2, a) == 1 || index($2, b) == 1) {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  # A killed containerd leaves its socket: the wait for it would pass before it serves, and
  # the kubelet would give up on a CRI that is "not initialized yet".
  rm -f "$containerd_sock"
  for m in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$m" 2>/dev/null || true; done
  if [[ -x $bin/kube-proxy-$K8S_VERSION ]]; then
    "$bin/kube-proxy-$K8S_VERSION" --cleanup --proxy-mode=iptables >/dev/null 2>&1 || true
  fi
  # The kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY, ...) and any left over.
  local t
  for t in filter nat mangle; do
    if iptables-save -t "$t" 2>/dev/null | grep -q 'KUBE-'; then
      iptables-save -t "$t" | grep -v -- 'KUBE-' | iptables-restore -T "$t" 2>/dev/null || true
    fi
  done
  # With iptables' nf_tables backend a restore of the filter table leaves chains it does not
  # name (kube-router's KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*), rules and all: flush and
  # delete each, so that nothing holds kube-router's address sets.
  local c
  for t in filter nat mangle; do
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
      iptables -t "$t" -F "$c" 2>/dev/null || true
    done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
      iptables -t "$t" -X "$c" 2>/dev/null || true
    done
  done
  # kube-router's address sets.
  if command -v ipset >/dev/null; then
    ipset list -n 2>/dev/null | grep -E '^(KUBE-SRC-|KUBE-DST-|TMP-)' | xargs -rn1 ipset destroy 2>/dev/null || true
  fi
  rm -rf "$rundir/cni" "$rundir/containerd/state"
}

# kube-router has programmed its firewall: its chain hangs off FORWARD.
kube_router_synced() { iptables -S FORWARD 2>/dev/null | grep -q -- '-j KUBE-ROUTER-FORWARD'; }

kctl() { "$bin/kubectl-$K8S_VERSION" --kubeconfig="$kubeconfig" "$@"; }

brokers() { UPDRAFT_CLUSTER_DIR=$dir UPDRAFT_CACHE=$cache UPDRAFT_BRIDGE_CIDR=$bridge_cidr "$root/hack/brokers.sh" "$@"; }

down() {
  # The kubelet goes first so it restarts nothing; containers are then stopped with
  # containerd still running (clean shim exits), and whatever is left is removed by force.
  # The brokers stop meanwhile.
  brokers down & local brokers_pid=$!
  stop_one kubelet
  if is_ours containerd && command -v crictl >/dev/null 2>&1; then
    timeout 30 crictl --runtime-endpoint "unix://$containerd_sock" rmp -af >/dev/null 2>&1 || true
  fi
  stop_one kube-router
  stop_one kube-proxy
  stop_one containerd
  cleanup_node_leftovers
  for c in kube-scheduler kube-controller-manager kube-apiserver registry etcd; do stop_one "$c"; done
  stop_strays
  cleanup_node_leftovers
  wait "$brokers_pid" || true
  if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge" 2>/dev/null || true; fi
  say "cluster down"
}

status() {
  local rc=0
  for c in "${COMPONENTS[@]}"; do
    if is_ours "$c"; then printf '%-26s running (pid %s)\n' "$c" "$(<"$run/$c.pid")"
    else printf '%-26s stopped\n' "$c"; rc=1; fi
  done
  if node_ready; then echo "node $node_name          Ready"; else echo "node $node_name          not ready"; rc=1; fi
  if apiserver_healthy; then echo "apiserver                  ready at https://127.0.0.1:$apiserver_port"
  else echo "apiserver                  not ready"; rc=1; fi
  brokers status || rc=1
  return $rc
}

env_() {
  mkdir -p "$dir/path"
  ln -sf "$bin/kubectl-$K8S_VERSION" "$dir/path/kubectl"
  [[ -x $bin/helm-$HELM_VERSION ]] && ln -sf "$bin/helm-$HELM_VERSION" "$dir/path/helm"
  [[ -x $bin/helm4-$HELM4_VERSION ]] && ln -sf "$bin/helm4-$HELM4_VERSION" "$dir/path/helm4"
  echo "export KUBECONFIG=$kubeconfig"
  echo "export UPDRAFT_CLUSTER_DIR=$dir"
  echo "export KUBECACHEDIR=$KUBECACHEDIR"
  # Node.js 24 (the CLI and the tests run on it), kubectl, helm and the updraft CLI.
  echo "export PATH=$dir/path:$root/bin:$("$root/hack/ensure-node.sh"):\$PATH"
  # The activator's ClusterIP: kube-proxy makes ClusterIPs reachable from this machine.
  local ip ns
  ns=${UPDRAFT_NAMESPACE:-updraft-system}
  ip=$(kctl -n "$ns" get service updraft-activator -o jsonpath='{.spec.clusterIP}' 2>/dev/null || true)
  [[ -n $ip ]] && echo "export UPDRAFT_URL=http://$ip:8080"
  # The invoke API takes Kubernetes tokens; the local cluster's admin holds a client
  # certificate, so the CLI calls as the ServiceAccount `make up` binds to updraft-invoker.
  local token
  token=$(kctl -n default create token updraft-local-developer --duration=24h 2>/dev/null || true)
  [[ -n $token ]] && echo "export UPDRAFT_TOKEN=$token"
  ip=$(kctl -n "$ns" get service updraft-nats -o jsonpath='{.spec.clusterIP}' 2>/dev/null || true)
  [[ -n $ip ]] && echo "export UPDRAFT_NATS_URL=nats://$ip:4222"
  # The brokers for triggers (hack/brokers.sh), on the bridge address.
  brokers env
  return 0
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) env_ ;;
  clean) down; rm -rf "$dir" ;;
  *) echo "usage: $0 up|down|status|env|clean" >&2; exit 2 ;;
esac
