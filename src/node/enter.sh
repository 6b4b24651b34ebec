#!/bin/sh
# Container entry, run by the node agent as
#   ip netns exec <pod netns> unshare --mount --pid --fork --kill-child --propagation private \
#     -- /bin/sh enter.sh <setup script> <command...>
# so it runs as pid 1 of a new pid namespace, in a new mount namespace, inside the pod's
# network namespace. The setup script (written by the agent) builds the root file system
# and mounts the volumes; then the container's command replaces this shell.
set -eu
. "$1"
shift
exec "$@"
