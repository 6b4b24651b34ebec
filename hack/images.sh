#!/usr/bin/env bash
# Builds the images the local cluster runs and pushes them to its registry (localhost:5000),
# which containerd pulls from. Daemonless: buildah, storage in the cache, so a fresh clone
# on the same machine reuses every layer.
#   hack/images.sh rootfs    the Debian root file system (debootstrap), cached
#   hack/images.sh base      debian:bookworm-slim (from it) and node:24-bookworm-slim
#   hack/images.sh addons    pause, CoreDNS, local-path-provisioner, NATS
#   hack/images.sh project   updraft/controller and one updraft/runtime-<runtime> per runtime;
#                            prints the tag (a hash of everything that goes into them)
# Every image is cached by content: when the registry already holds the tag that the inputs
# hash to, nothing is built.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
cache=${UPDRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/updraft}
registry=${UPDRAFT_REGISTRY:-localhost:5000}
APP_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/updraft/Chart.yaml")
say() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The runtimes that have an image (and so are in the CRD's enum).
RUNTIMES=(nodejs24 nodejs22 python3.11 php8.2 go1 java17 java21 custom)

mkdir -p "$cache/buildah" /run/updraft
bah() {
  buildah --root "$cache/buildah/storage" --runroot /run/updraft/buildah --storage-driver overlay "$@"
}

# in_registry <repo> <tag>: the local registry already holds it.
in_registry() {
  curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$registry/v2/$1/manifests/$2"
}

push() { # local-name registry-repo:tag
  bah push --quiet --tls-verify=false "$1" "docker://$registry/$2" >/dev/null
  say "pushed $registry/$2"
}

build() { # name:tag context dockerfile [build args...]
  local tag=$1 ctx=$2 file=$3; shift 3
  say "building $tag"
  bah bud --quiet --layers --isolation chroot --network host --pull=never \
    -f "$file" -t "$tag" "$@" "$ctx" >/dev/null
}

size_of() { # registry repo tag → compressed size in MB (what a node pulls)
  in_registry "$1" "$2" || { echo "not built"; return 0; }
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$registry/v2/$1/manifests/$2" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s);const b=m.layers.reduce((a,l)=>a+l.size,0);console.log((b/1e6).toFixed(1)+" MB")})'
}

# The Debian root file system, made once (mostly download and unpack: cluster-up runs it
# beside the Go builds).
# bookworm for every image; trixie (Debian 13) only under java21, whose OpenJDK 21 Debian
# ships from trixie on.
rootfs() { # suite
  local suite=${1:-bookworm}
  local rootfs=$cache/rootfs/$suite
  if [[ ! -f $rootfs/.complete ]]; then
    mkdir -p "$cache/rootfs"
    say "debootstrap $suite (minbase) into $rootfs — a few minutes the first time"
    rm -rf "$rootfs.tmp"
    debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs.tmp" http://deb.debian.org/debian >"$cache/rootfs/debootstrap-$suite.log" 2>&1 ||
      { tail -20 "$cache/rootfs/debootstrap-$suite.log" >&2; exit 1; }
    rm -rf "$rootfs" && mv "$rootfs.tmp" "$rootfs" && touch "$rootfs/.complete"
  fi
}

base_debian() { # suite
  local suite=${1:-bookworm}
  local name=library/debian tag=$suite-slim rootfs=$cache/rootfs/$suite
  in_registry "$name" "$tag" && bah inspect "docker.io/$name:$tag" >/dev/null 2>&1 && return 0
  rootfs "$suite"
  say "committing docker.io/$name:$tag from $rootfs"
  local ctr mnt
  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  # What the slim images leave out: downloaded packages, package lists, docs, man pages,
  # translations.
  tar -C "$rootfs" --exclude=./.complete --exclude='./var/cache/apt/archives/*.deb' \
    --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*.bin' --exclude='./usr/share/doc/*' \
    --exclude='./usr/share/man/*' --exclude='./usr/share/info/*' --exclude='./usr/share/locale/*' \
    --exclude='./var/log/*.log' -cf - . | tar -C "$mnt" -xf -
  # This machine reaches the registries through a TLS proxy whose CA is in the host's
  # /usr/local/share/ca-certificates: images made here trust what the host trusts, as a
  # company's base images do.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$mnt/usr/local/share/ca-certificates/"
    chroot "$mnt" update-ca-certificates >/dev/null 2>&1
  fi
  bah umount "$ctr" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$ctr"
  bah commit --quiet "$ctr" "docker.io/$name:$tag" >/dev/null
  bah rm "$ctr" >/dev/null
  push "docker.io/$name:$tag" "$name:$tag"
}

base_node() { # suite
  local suite=${1:-bookworm}
  local name=library/node tag=24-$suite-slim node_bin made ctx=$cache/images-ctx/node
  node_bin=$("$root/hack/ensure-node.sh")
  # What it is made of, as a label: the tag stays the upstream name, so a cached image made
  # with another Node.js binary or npm (hack/versions.env) is made again.
  made="node $("$node_bin/node" --version), npm $NPM_VERSION"
  in_registry "$name" "$tag" &&
    [[ $(bah inspect --format '{{index .OCIv1.Config.Labels "dev.updraft.made-of"}}' "docker.io/$name:$tag" 2>/dev/null) == "$made" ]] &&
    return 0
  rm -rf "$ctx" && mkdir -p "$ctx/node/bin" "$ctx/node/lib/node_modules"
  cp "$node_bin/node" "$ctx/node/bin/node"
  (cd "$ctx" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && tar xzf npm-*.tgz && mv package node/lib/node_modules/npm && rm npm-*.tgz)
  build "docker.io/$name:$tag" "$ctx" "$root/hack/images/node/Dockerfile" --build-arg "SUITE=$suite" \
    --label "dev.updraft.made-of=$made"
  push "docker.io/$name:$tag" "$name:$tag"
}

# A FROM-scratch image around one static binary, under its upstream image name.
scratch_binary() { # upstream-name:tag binary
  local image=$1 binary=$2 repo=${1%%:*} tag=${1##*:}
  [[ $repo == */* ]] || repo=library/$repo
  in_registry "$repo" "$tag" && return 0
  local ctx=$cache/images-ctx/$(basename "$repo")
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$binary" "$ctx/app"
  printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$ctx/passwd"
  build "$image" "$ctx" "$root/hack/images/scratch-binary/Dockerfile"
  push "$image" "$repo:$tag"
}

addons() {
  local bin=$cache/bin
  if ! in_registry pause "$PAUSE_VERSION"; then
    local ctx=$cache/images-ctx/pause
    rm -rf "$ctx" && mkdir -p "$ctx"
    gcc -static -O2 -o "$ctx/pause" "$root/hack/images/pause/pause.c"
    strip "$ctx/pause"
    build "localhost/pause:$PAUSE_VERSION" "$ctx" "$root/hack/images/pause/Dockerfile"
    push "localhost/pause:$PAUSE_VERSION" "pause:$PAUSE_VERSION"
  fi
  scratch_binary "coredns/coredns:${COREDNS_VERSION#v}" "$bin/coredns-$COREDNS_VERSION"
  scratch_binary "rancher/local-path-provisioner:$LOCAL_PATH_VERSION" "$bin/local-path-provisioner-$LOCAL_PATH_VERSION"
  scratch_binary "nats:${NATS_VERSION#v}" "$bin/nats-server-$NATS_VERSION"
}

# The tag of the project's images: a hash of every file that goes into them, and of what
# makes their base images.
project_tag() {
  # Not the bootstraps built in the tree for local runs (git ignores them; so do images).
  (cd "$root" && find Dockerfile .dockerignore package.json package-lock.json runtimes src \
    hack/images.sh hack/images/node hack/versions.env -type f \
    ! -name '*.test.ts' ! -path runtimes/go/bootstrap ! -path runtimes/java/bootstrap.jar \
    ! -path 'runtimes/java/target/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}

project() {
  local tag
  tag=$(project_tag)
  local want=("updraft/controller|Dockerfile")
  for r in "${RUNTIMES[@]}"; do want+=("updraft/runtime-$r|runtimes/Dockerfile.$r"); done
  for w in "${want[@]}"; do
    local repo=${w%%|*} file=${w##*|}
    in_registry "$repo" "$tag" && continue
    build "$registry/$repo:$tag" "$root" "$root/$file"
    push "$registry/$repo:$tag" "$repo:$tag"
    # The chart's appVersion tag too, so `kubectl apply -f deploy/` (which names it) runs
    # the images of this tree.
    push "$registry/$repo:$tag" "$repo:$APP_VERSION"
  done
  echo "$tag"
}

# An example image from a folder of examples/ (its Dockerfile), tagged by its content:
# prints the reference pods pull, e.g. localhost:5000/examples/image-function:3f2a….
example() { # dir
  local dir=${1:?usage: $0 example examples/<dir>} name tag
  name=$(basename "$dir")
  tag=$(cd "$root/$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
  if ! in_registry "examples/$name" "$tag"; then
    build "$registry/examples/$name:$tag" "$root/$dir" "$root/$dir/Dockerfile"
    push "$registry/examples/$name:$tag" "examples/$name:$tag"
  fi
  echo "$registry/examples/$name:$tag"
}

sizes() {
  local tag
  tag=$(project_tag)
  printf '%-44s %s\n' "image" "compressed size"
  for r in updraft/controller "${RUNTIMES[@]/#/updraft/runtime-}"; do
    printf '%-44s %s\n' "$registry/$r:$tag" "$(size_of "$r" "$tag")"
  done
  printf '%-44s %s\n' "library/debian:bookworm-slim" "$(size_of library/debian bookworm-slim)"
  printf '%-44s %s\n' "library/node:24-bookworm-slim" "$(size_of library/node 24-bookworm-slim)"
  printf '%-44s %s\n' "library/node:24-trixie-slim" "$(size_of library/node 24-trixie-slim)"
  printf '%-44s %s\n' "library/nats:${NATS_VERSION#v}" "$(size_of library/nats "${NATS_VERSION#v}")"
  printf '%-44s %s\n' "coredns/coredns:${COREDNS_VERSION#v}" "$(size_of coredns/coredns "${COREDNS_VERSION#v}")"
  printf '%-44s %s\n' "rancher/local-path-provisioner:$LOCAL_PATH_VERSION" "$(size_of rancher/local-path-provisioner "$LOCAL_PATH_VERSION")"
  printf '%-44s %s\n' "pause:$PAUSE_VERSION" "$(size_of pause "$PAUSE_VERSION")"
}

case ${1:-} in
  rootfs) rootfs ;;
  base) base_debian; base_node; base_debian trixie; base_node trixie ;;
  addons) addons ;;
  project) base_debian; base_node; base_debian trixie; base_node trixie; project ;;
  tag) project_tag ;;
  example) base_debian; base_node; example "${2:-}" ;;
  sizes) sizes ;;
  *) echo "usage: $0 base|addons|project|tag|sizes|example <dir>" >&2; exit 2 ;;
esac
