#!/usr/bin/env bash
# `make up`: the local cluster (started by make cluster-up), Updraft's images built from this
# tree and pushed to the cluster's registry (cached by content: unchanged sources rebuild
# nothing), Updraft installed with `helm upgrade --install` — the command a user runs — and
# the examples/ deployed in namespace demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
eval "$("$root/hack/cluster.sh" env)"
ns=${UPDRAFT_NAMESPACE:-updraft-system}
say() { printf '[up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

tag=$("$root/hack/images.sh" project)
say "images at tag $tag"
# The local cluster's object store: its notification feed for ObjectStorage Triggers, and
# a bucket for code packages over 1 MB (codeStore).
storage=()
if [[ -n ${UPDRAFT_S3_ENDPOINT:-} ]]; then
  storage=(--set objectStorage.enabled=true --set "objectStorage.endpoint=$UPDRAFT_S3_ENDPOINT"
    --set "objectStorage.accessKey=$UPDRAFT_S3_ACCESS_KEY" --set "objectStorage.secretKey=$UPDRAFT_S3_SECRET_KEY"
    --set "objectStorage.feed.kafkaBrokers=$UPDRAFT_KAFKA_BROKERS" --set "objectStorage.feed.topic=$UPDRAFT_S3_EVENTS_TOPIC"
    --set codeStore.enabled=true)
fi
"$root/hack/install.sh" "$ns" --set-string "image.tag=$tag" "${storage[@]}"

# The CLI's identity on this cluster (cluster.sh env gives it a token as UPDRAFT_TOKEN): the
# invoke API takes Kubernetes tokens, and the local admin authenticates with a certificate.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: ServiceAccount
metadata: {name: updraft-local-developer, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: updraft-local-developer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: updraft-invoker}
subjects: [{kind: ServiceAccount, name: updraft-local-developer, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: updraft-local-developer-packages}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: updraft-developer}
subjects: [{kind: ServiceAccount, name: updraft-local-developer, namespace: default}]
YAML
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace demo pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null
kubectl -n demo apply -f "$root/examples/" >/dev/null
say "examples applied to namespace demo; waiting for them to be Ready"
kubectl -n demo wait --for=condition=Ready functions --all --timeout=120s
kubectl -n demo get functions,triggers
cat <<MSG

Updraft is up. Try:
  eval "\$(make -s cluster-env)"
  helm list -n $ns
  updraft invoke hello-nodejs -n demo --data '{"name":"world"}'
  kubectl -n demo get fn,trig
MSG
