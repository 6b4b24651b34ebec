#!/usr/bin/env bash
# `make up`: the local cluster (already started by make cluster-up) with Updraft installed
# exactly as on any cluster — `kubectl apply -f deploy/` — its pods run by the node agent
# (the image updraft/controller maps to this working tree), and the examples/ applied.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
eval "$("$root/hack/cluster.sh" env)"
dir=$UPDRAFT_CLUSTER_DIR
say() { printf '[up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The host-run controller of an earlier `make up` (before the node agent ran pods) goes.
if [[ -f $dir/run/updraft-controller.pid ]]; then
  kill "$(<"$dir/run/updraft-controller.pid")" 2>/dev/null || true
  rm -f "$dir/run/updraft-controller.pid"
fi

say "installing Updraft from deploy/updraft.yaml (CRDs, RBAC, controller Deployment)"
kubectl apply --server-side --force-conflicts -f "$root/deploy/updraft.yaml" >/dev/null
kubectl wait --for=condition=Established crd/functions.updraft.dev crd/triggers.updraft.dev --timeout=60s >/dev/null
# The image is this working tree: restart, so the pods run the code as it is now.
kubectl -n updraft-system rollout restart deployment/updraft-controller deployment/updraft-autoscaler deployment/updraft-activator >/dev/null
for d in updraft-controller updraft-autoscaler updraft-activator; do
  kubectl -n updraft-system rollout status "deployment/$d" --timeout=120s
done

kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n demo apply -f "$root/examples/" >/dev/null
say "examples applied to namespace demo; waiting for them to be Ready"
kubectl -n demo wait --for=condition=Ready functions --all --timeout=120s
kubectl -n demo get functions,triggers
cat <<MSG

Updraft is up. Try:
  eval "\$(make -s cluster-env)"
  updraft invoke hello-nodejs -n demo --data '{"name":"world"}'
  kubectl -n demo get fn,trig
MSG
