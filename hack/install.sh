#!/usr/bin/env bash
# Installs (or upgrades) Updraft with Helm as a user does:
#   hack/install.sh <namespace> [helm flags...]
# The namespace is made first and labelled for the restricted Pod Security Standard
# (helm's --create-namespace sets no labels), then `helm upgrade --install --wait`.
# HELM picks the binary (helm = Helm 3, helm4 = Helm 4).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ns=${1:?namespace}; shift
helm=${HELM:-helm}
say() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/enforce-version=latest --overwrite >/dev/null
say "$helm upgrade --install updraft charts/updraft -n $ns --take-ownership $*"
# --take-ownership: the CRDs outlive an uninstall (resource-policy keep) and carry the old
# release's ownership; a new release (another namespace, another Helm) adopts them.
"$helm" upgrade --install updraft "$root/charts/updraft" --namespace "$ns" --wait --timeout 5m --take-ownership "$@" >/dev/null
"$helm" list -n "$ns"
