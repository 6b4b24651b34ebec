#!/usr/bin/env bash
# Builds the local cluster's binaries from the Go module proxy into a cache keyed by
# version, so a fresh clone on the same machine (CI included) reuses them:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/updraft/bin/<name>-<version>
# Usage: hack/build-binaries.sh            (builds whatever is missing, with progress)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/versions.env
. "$here/versions.env"
cache=${UPDRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/updraft}
bin=$cache/bin
mkdir -p "$bin"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
say() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Runs "$@" while printing a progress line every 30 s, so a long first build is visibly alive.
with_progress() {
  local what=$1; shift
  "$@" & local pid=$!
  local start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if (( (SECONDS - start) % 30 < 5 )) && kill -0 "$pid" 2>/dev/null; then
      say "$what: still building ($((SECONDS - start)) s)"
    fi
  done
  wait "$pid"
}

need() { [[ ! -x "$bin/$1-$2" ]]; }

build_k8s() {
  local v=$K8S_VERSION minor
  minor=$(echo "$v" | cut -d. -f2)
  local missing=()
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
    need "$c" "$v" && missing+=("$c")
  done
  ((${#missing[@]})) || return 0
  local mod=$cache/src/k8s-$v
  mkdir -p "$mod"
  if [[ ! -f $mod/go.sum ]]; then
    say "kubernetes $v: resolving modules"
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "module updraft.dev/hack/k8s"
      echo
      echo "go $(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod")"
      echo
      echo "require k8s.io/kubernetes $v"
      echo
      # Every staging module is required at v0.0.0 upstream; point each at its published v0.N.P.
      grep -E '^[[:space:]]*k8s.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk '{print $1}' | sort -u |
        while read -r m; do echo "replace $m => $m v0.${minor}.${v##*.}"; done
    } >"$mod/go.mod"
    cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
    (cd "$mod" && go mod tidy -e >/dev/null 2>&1 || true; cd "$mod" && go mod download)
  fi
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$v"
  for c in "${missing[@]}"; do
    say "kubernetes $v: building $c (first build takes minutes)"
    (cd "$mod" && with_progress "$c" go build -trimpath -ldflags "$ld" -o "$bin/$c-$v.tmp" "k8s.io/kubernetes/cmd/$c")
    mv "$bin/$c-$v.tmp" "$bin/$c-$v"
  done
}

build_wrapped() { # name version module mainpkg
  local name=$1 v=$2 module=$3 pkg=$4
  need "$name" "$v" || return 0
  local mod=$cache/src/$name-$v
  mkdir -p "$mod"
  say "$name $v: building"
  cat >"$mod/go.mod" <<GOMOD
module updraft.dev/hack/$name

go 1.24

require $module $v
GOMOD
  cat >"$mod/tools.go" <<GO
//go:build tools

package tools

import _ "$pkg"
GO
  (cd "$mod" && go mod tidy -e >/dev/null 2>&1; go mod download all >/dev/null 2>&1 || true
   with_progress "$name" go build -trimpath -ldflags "-s -w" -o "$bin/$name-$v.tmp" "$pkg")
  mv "$bin/$name-$v.tmp" "$bin/$name-$v"
}

build_installable() { # name version pkg@version
  local name=$1 v=$2 pkg=$3
  need "$name" "$v" || return 0
  say "$name $v: building"
  local gobin=$cache/src/gobin-$name-$v
  mkdir -p "$gobin"
  GOBIN=$gobin with_progress "$name" go install -trimpath -ldflags "-s -w" "$pkg@$v"
  mv "$gobin/$(basename "${pkg%/v[0-9]*}")" "$bin/$name-$v" 2>/dev/null || mv "$gobin"/* "$bin/$name-$v"
}

# Kafka's jars from Maven Central (hack/kafka/pom.xml, the version from versions.env): not a Go
# build, cached the same way in ${cache}/kafka-<version>/libs.
fetch_kafka() {
  local libs=$cache/kafka-$KAFKA_VERSION/libs
  [[ -f $libs/kafka_2.13-$KAFKA_VERSION.jar ]] && return 0
  say "kafka $KAFKA_VERSION: fetching its jars from Maven Central"
  rm -rf "$libs.tmp"
  local out
  out=$(cd "$here/kafka" && mvn -B -q -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$libs.tmp" 2>&1) || { echo "$out" >&2; exit 1; }
  mv "$libs.tmp" "$libs"
}

what=${1:-all}
case $what in
  etcd|all) build_wrapped etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 ;;&
  k8s|all) build_k8s ;;&
  nats|all) build_installable nats-server "$NATS_VERSION" github.com/nats-io/nats-server/v2 ;;&
  helm|all) build_installable helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;&
  helm4|all) build_installable helm4 "$HELM4_VERSION" helm.sh/helm/v4/cmd/helm ;;&
  registry|all) build_installable registry "$REGISTRY_VERSION" github.com/distribution/distribution/v3/cmd/registry ;;&
  coredns|all) build_installable coredns "$COREDNS_VERSION" github.com/coredns/coredns ;;&
  local-path|all) build_installable local-path-provisioner "$LOCAL_PATH_VERSION" github.com/rancher/local-path-provisioner ;;&
  kube-router|all) build_installable kube-router "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router ;;&
  kafka|all) fetch_kafka ;;&
  versitygw|all) build_installable versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw ;;&
  *) ;;
esac
say "binaries ready in $bin"
