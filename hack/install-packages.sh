#!/usr/bin/env bash
# Debian packages the local cluster needs and this machine may lack: containerd and runc
# (the node's runtime), the CNI plugins (bridge networking), buildah (daemonless image
# builds), debootstrap (base images from Debian's packages), conntrack and iptables
# (kube-proxy), ipset (kube-router's NetworkPolicy firewall); the brokers for triggers (hack/brokers.sh): a Java runtime for Kafka and
# RabbitMQ. Installed once; a no-op when present.
set -euo pipefail
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v conntrack >/dev/null || need+=(conntrack)
command -v iptables >/dev/null || need+=(iptables)
# kube-router's firewall (the NetworkPolicy implementation) keeps its address sets in ipset.
command -v ipset >/dev/null || need+=(ipset)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
# The conformance suite builds its Java function (javac, jar) and zips its Go one.
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
command -v zip >/dev/null || need+=(zip)
[[ -x /usr/sbin/rabbitmq-server ]] || need+=(rabbitmq-server)
((${#need[@]})) || exit 0
echo "[packages] installing ${need[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
# Packaged services (rabbitmq-server, its epmd) must not be started by the install: the
# cluster runs its own, as host processes.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
