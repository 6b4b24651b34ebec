#!/usr/bin/env bash
# `make up`: the local cluster (already started by make cluster-up) with Updraft installed
# and the examples/ functions applied.
#
# Until the node agent (issue 3) runs pods, the Updraft components run as host processes
# next to the control plane, with the same ServiceAccount, RBAC and configuration their
# Deployments in deploy/ give them. `make cluster-down` stops them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
eval "$("$root/hack/cluster.sh" env)"
dir=$UPDRAFT_CLUSTER_DIR
say() { printf '[up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

say "installing CRDs and RBAC from deploy/updraft.yaml"
node "$root/hack/apply-manifests.ts" "$root/deploy/updraft.yaml"
kubectl wait --for=condition=Established crd/functions.updraft.dev crd/triggers.updraft.dev --timeout=60s >/dev/null

# The controller's own identity: a token for its ServiceAccount from the TokenRequest API.
token=$(kubectl -n updraft-system create token updraft-controller --duration=24h)
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
cat >"$dir/controller.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$server", certificate-authority: "$ca"}}]
users: [{name: updraft-controller, user: {token: "$token"}}]
contexts: [{name: local, context: {cluster: local, user: updraft-controller}}]
current-context: local
KC

pidfile=$dir/run/updraft-controller.pid
if [[ -f $pidfile ]] && [[ -d /proc/$(<"$pidfile") ]]; then
  say "controller already running (pid $(<"$pidfile"))"
else
  KUBECONFIG=$dir/controller.kubeconfig POD_NAME=updraft-controller-local UPDRAFT_METRICS_PORT=19090 \
    nohup node "$root/src/cmd/controller/main.ts" >>"$dir/logs/updraft-controller.log" 2>&1 &
  echo $! >"$pidfile"
  say "started updraft-controller (pid $!), log $dir/logs/updraft-controller.log, metrics http://127.0.0.1:19090/metrics"
fi

kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n demo apply -f "$root/examples/" >/dev/null
say "examples applied to namespace demo; waiting for them to be Ready"
kubectl -n demo wait --for=condition=Ready functions --all --timeout=120s
kubectl -n demo get functions,triggers
cat <<MSG

Updraft is up. Try:
  eval "\$(make -s cluster-env)"
  kubectl -n demo get fn,trig
  kubectl -n demo describe fn hello-nodejs
MSG
