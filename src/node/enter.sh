#!/bin/sh
# Container entry, run by the node agent as
#   ip netns exec <pod netns> unshare --mount --propagation private \
#     -- /bin/sh enter.sh <setup script> <command...>
# so it runs in a new mount namespace inside the pod's network namespace; every step
# execs, so the agent's child process ends up being the container's command itself. The setup script (written by the agent) builds the root file system
# and mounts the volumes; then the container's command replaces this shell.
set -eu
. "$1"
shift
exec "$@"
