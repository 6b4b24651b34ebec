#!/usr/bin/env bash
# Brokers for triggers: message brokers and an S3 store beside the local cluster, as host
# processes on the bridge address, so this machine and pods reach them at the same address:
#   Kafka 4.4 (KRaft, one broker+controller)  10.244.0.1:9092        jars from Maven Central
#   RabbitMQ (Debian's rabbitmq-server)       10.244.0.1:5672        user updraft / updraft
#   NATS for users (not Updraft's own NATS)   10.244.0.1:4223        user updraft / updraft
#   versitygw (S3 over a folder)              http://10.244.0.1:7070 updraft / updraft-secret
#     bucket notifications (objects created and removed) to the Kafka topic updraft-s3-events
# hack/cluster.sh calls `start` once the bridge exists, `wait` at the end of `up` (Kafka and
# RabbitMQ start together and are waited for together; versitygw starts once Kafka answers,
# as it sends a test event at start and exits if Kafka is down), `down`, `status` and `env`.
#   hack/brokers.sh start|wait|down|status|env
#   hack/brokers.sh rabbitmqctl ARGS...     rabbitmqctl against this node (its cookie, its epmd)
#   hack/brokers.sh kafka CLASS ARGS...     a Kafka tool, e.g. org.apache.kafka.tools.consumer.ConsoleConsumer
# State lives in $UPDRAFT_CLUSTER_DIR/brokers (removed by `hack/cluster.sh clean`), logs and
# pids in $UPDRAFT_CLUSTER_DIR/logs and run/, beside the cluster's. A pid counts only if it
# is alive and its command line is the one we started; processes of ours without a pid file
# (a killed run) are stopped first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/versions.env
. "$root/hack/versions.env"
cache=${UPDRAFT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/updraft}
bin=$cache/bin
dir=${UPDRAFT_CLUSTER_DIR:-$root/.cluster}
data=$dir/brokers
logs=$dir/logs
run=$dir/run
bridge_cidr=${UPDRAFT_BRIDGE_CIDR:-10.244.0.1/16}
bridge_ip=${bridge_cidr%/*}

kafka_port=9092
kafka_controller=127.0.0.1:9093
amqp_port=5672
rabbit_dist_port=25673 # Erlang distribution (rabbitmqctl), loopback only
epmd_port=4371         # not 4369: a packaged epmd or another Erlang node may hold that
rabbit_node=updraft@localhost
nats_port=4223
s3_port=7070
user=updraft
password=updraft
s3_secret=updraft-secret
topic=updraft-s3-events

kafka_libs=$cache/kafka-$KAFKA_VERSION/libs
nats_bin=$bin/nats-server-$NATS_VERSION
vgw_bin=$bin/versitygw-$VERSITYGW_VERSION
rabbit_bin=/usr/lib/rabbitmq/bin # not /usr/sbin's wrappers: they su to the rabbitmq user
SERVICES=(kafka epmd rabbitmq nats versitygw)

say() { printf '[brokers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# What the command line of each service contains, and only ours. RabbitMQ's start script
# passes its arguments on to erl, so `-updraft <dir>` marks both the script and beam.smp.
marker_of() {
  case $1 in
    kafka) echo "kafka.Kafka $data/kafka/server.properties" ;;
    epmd) echo "epmd -port $epmd_port -address 127.0.0.1" ;;
    rabbitmq) echo "-updraft $data/rabbitmq" ;;
    nats) echo "$nats_bin -c $data/nats/nats.conf" ;;
    versitygw) echo "posix $data/s3" ;;
  esac
}

is_ours() {
  local f=$run/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -d /proc/$pid ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(marker_of "$1")"
}

# Pids whose command line has the service's marker (pgrep takes a regex: escape it).
pids_of() {
  local re
  re=$(marker_of "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g')
  pgrep -f -- "$re" || true
}

# Stops the processes of one or more services: their pid file's and any stray with their
# marker. TERM, up to 30 s, then KILL.
stop() {
  local pids=() s p
  for s in "$@"; do
    if is_ours "$s"; then pids+=("$(<"$run/$s.pid")"); fi
    for p in $(pids_of "$s"); do pids+=("$p"); done
  done
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 300); do
      local alive=0
      for p in "${pids[@]}"; do [[ -d /proc/$p ]] && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  for s in "$@"; do rm -f "$run/$s.pid"; done
}

# An epmd that an Erlang tool started by itself on our port (`epmd -daemon`, no pid file).
stop_foreign_epmd() {
  local p
  for p in $(ss -Hltnp "sport = :$epmd_port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == epmd ]] && kill -KILL "$p" 2>/dev/null || true
  done
}

# A port that another process holds would make ours exit at once; say whose it is.
need_port() { # port name
  local holder
  holder=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:.*' | head -1 || true)
  [[ -z $holder ]] || die "$2: port $1 is held by $holder"
}

launch() { # name command...
  local name=$1; shift
  "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
  say "started $name (pid $!), log $logs/$name.log"
}

put() {
  local tmp=$1.tmp
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

rabbit_env() {
  export HOME=$data/rabbitmq # the Erlang cookie: the node's and rabbitmqctl's
  export RABBITMQ_NODENAME=$rabbit_node RABBITMQ_NODE_IP_ADDRESS=$bridge_ip RABBITMQ_NODE_PORT=$amqp_port
  export RABBITMQ_DIST_PORT=$rabbit_dist_port ERL_EPMD_PORT=$epmd_port ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_CONF_ENV_FILE=$data/rabbitmq/rabbitmq-env.conf
  export RABBITMQ_CONFIG_FILE=$data/rabbitmq/rabbitmq.conf
  export RABBITMQ_ADVANCED_CONFIG_FILE=$data/rabbitmq/advanced.config
  export RABBITMQ_ENABLED_PLUGINS_FILE=$data/rabbitmq/enabled_plugins
  export RABBITMQ_MNESIA_BASE=$data/rabbitmq/mnesia RABBITMQ_LOG_BASE=$data/rabbitmq/log
  export RABBITMQ_PID_FILE=$data/rabbitmq/rabbit.pid
  export RABBITMQ_LOGS=- # to stdout, i.e. logs/rabbitmq.log
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

rabbitmqctl() { (rabbit_env; exec "$rabbit_bin/rabbitmqctl" "$@"); }

kafka_tool() { # class args...: quiet logging (warnings to stderr)
  java -Dlog4j.configuration="file:$data/kafka/log4j-tools.properties" \
    -Dlog4j2.configurationFile="$data/kafka/log4j2.properties" -cp "$kafka_libs/*" "$@"
}

write_config() {
  mkdir -p "$data/kafka/data" "$data/rabbitmq/mnesia" "$data/nats" "$data/s3" "$logs" "$run"
  put "$data/kafka/server.properties" <<PROPS
# One node, broker and controller (KRaft); clients use PLAINTEXT on the bridge address,
# which this machine and pods both reach.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$kafka_controller
listeners=PLAINTEXT://$bridge_ip:$kafka_port,CONTROLLER://$kafka_controller
advertised.listeners=PLAINTEXT://$bridge_ip:$kafka_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/kafka/data
num.partitions=3
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a kill -9 the restarted node waits out its previous incarnation's session before it
# can register again: 3 s rather than 9.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
PROPS
  put "$data/kafka/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# Each client and server configuration is dumped in full at INFO: hundreds of lines.
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
PROPS
  put "$data/kafka/log4j-tools.properties" <<'PROPS'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
  # Kafka logs through SLF4J to reload4j; log4j2 (in the jars too) is only told to be quiet.
  put "$data/kafka/log4j2.properties" <<'PROPS'
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = STDERR
PROPS
  : | put "$data/rabbitmq/rabbitmq-env.conf"
  echo '[].' | put "$data/rabbitmq/enabled_plugins"
  # The default user is made when the node's database is created (first start); there is no
  # guest (it would work from loopback only anyway).
  put "$data/rabbitmq/rabbitmq.conf" <<CONF
default_user = $user
default_pass = $password
default_vhost = /
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
default_user_tags.administrator = true
CONF
  put "$data/nats/nats.conf" <<CONF
# The users' NATS (triggers), not Updraft's own: no JetStream.
listen: $bridge_ip:$nats_port
server_name: updraft-user-nats
authorization {
  user: $user
  password: $password
}
CONF
  # Objects created (PUT, POST, copy, multipart completion) and removed (DELETE, batch
  # delete); no tagging or ACL events.
  put "$data/s3-events.json" <<'JSON'
{"s3:ObjectCreated:*": true, "s3:ObjectRemoved:*": true}
JSON
}

start_kafka() {
  is_ours kafka && return 0
  if [[ ! -f $data/kafka/data/meta.properties ]]; then
    local id
    id=$(kafka_tool kafka.tools.StorageTool random-uuid)
    say "formatting Kafka's storage (cluster id $id)"
    kafka_tool kafka.tools.StorageTool format -t "$id" -c "$data/kafka/server.properties" >>"$logs/kafka.log" 2>&1 ||
      die "kafka storage format failed (see $logs/kafka.log)"
  fi
  need_port "$kafka_port" kafka; need_port "${kafka_controller##*:}" kafka
  # Readiness is read from what this start logs: the log's size before it is kept.
  stat -c %s "$logs/kafka.log" 2>/dev/null >"$run/kafka.logoffset" || echo 0 >"$run/kafka.logoffset"
  # C1 only and the serial collector: a third less CPU to start (3.6 s instead of 6.3 s on
  # 2 cores), which the control plane starting beside it needs more than Kafka needs the C2
  # compiler's throughput.
  launch kafka java -Xmx512m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j.configuration="file:$data/kafka/log4j.properties" \
    -Dlog4j2.configurationFile="$data/kafka/log4j2.properties" \
    -cp "$kafka_libs/*" kafka.Kafka "$data/kafka/server.properties"
}

kafka_ready() {
  local off
  off=$(cat "$run/kafka.logoffset" 2>/dev/null || echo 0)
  # Not `tail | grep -q`: under pipefail, grep leaving at its first match kills tail with
  # SIGPIPE when the log is long (a second `make up` while Kafka runs), and the pipeline fails.
  grep -q 'Kafka Server started' <(tail -c +"$((off + 1))" "$logs/kafka.log") && tcp_open "$bridge_ip" "$kafka_port"
}

start_rabbitmq() {
  # epmd first, ours on its own port and pid-tracked, so that beam.smp does not start one
  # that nothing tracks.
  if ! is_ours epmd; then
    stop epmd
    stop_foreign_epmd
    launch epmd epmd -port "$epmd_port" -address 127.0.0.1
    local deadline=$((SECONDS + 10))
    until ss -Hltn "sport = :$epmd_port" | grep -q .; do
      ((SECONDS < deadline)) || die "epmd not listening after 10 s"
      sleep 0.1
    done
  fi
  is_ours rabbitmq && return 0
  rm -f "$data/rabbitmq/rabbit.pid"
  need_port "$amqp_port" rabbitmq; need_port "$rabbit_dist_port" rabbitmq
  (rabbit_env; launch rabbitmq "$rabbit_bin/rabbitmq-server" -updraft "$data/rabbitmq")
}

start_nats() {
  is_ours nats && return 0
  need_port "$nats_port" nats
  launch nats "$nats_bin" -c "$data/nats/nats.conf"
}

start_versitygw() {
  is_ours versitygw && return 0
  need_port "$s3_port" versitygw
  launch versitygw "$vgw_bin" --access "$user" --secret "$s3_secret" --port "$bridge_ip:$s3_port" \
    --health /health --quiet \
    --event-kafka-url "$bridge_ip:$kafka_port" --event-kafka-topic "$topic" --event-filter "$data/s3-events.json" \
    posix "$data/s3"
}

start_all() {
  ip -4 addr show 2>/dev/null | grep -q " $bridge_ip/" || die "no interface has $bridge_ip (hack/cluster.sh up makes the bridge)"
  [[ -f $kafka_libs/kafka_2.13-$KAFKA_VERSION.jar ]] || "$root/hack/build-binaries.sh" kafka
  [[ -x $vgw_bin ]] || "$root/hack/build-binaries.sh" versitygw
  [[ -x $nats_bin ]] || "$root/hack/build-binaries.sh" nats
  write_config
  # A killed run leaves stale pid files and may leave processes: stop what is not ours.
  local s
  for s in "${SERVICES[@]}"; do
    is_ours "$s" && continue
    [[ -n $(pids_of "$s") ]] && say "stopping stray $s: $(pids_of "$s" | tr '\n' ' ')"
    stop "$s"
  done
  is_ours epmd || stop_foreign_epmd
  start_kafka
  start_rabbitmq
  start_nats
}

# RabbitMQ opens its AMQP listener last, once booted: the protocol header is answered by
# Connection.Start, a method frame (type 1). (rabbitmqctl wait would cost a CLI start.)
amqp_ready() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$bridge_ip/$amqp_port && printf 'AMQP\\0\\0\\011\\01' >&3 && head -c1 <&3 | od -An -tx1 | grep -q 01" 2>/dev/null
}

# Kafka and RabbitMQ are polled together; versitygw starts as soon as Kafka is ready.
wait_all() {
  local t0=$SECONDS deadline=$((SECONDS + 120)) kafka=0 rabbit=0
  until ((kafka && rabbit)); do
    if ((!kafka)) && kafka_ready; then
      kafka=1
      say "kafka ready at $bridge_ip:$kafka_port ($((SECONDS - t0)) s)"
      # versitygw's writer does not create topics: the events topic is made once, one
      # partition so that events keep their order.
      if [[ ! -d $data/kafka/data/$topic-0 ]]; then
        kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bridge_ip:$kafka_port" --create \
          --if-not-exists --topic "$topic" --partitions 1 --replication-factor 1 >/dev/null
      fi
      start_versitygw
    fi
    if ((!rabbit)) && amqp_ready; then
      rabbit=1
      say "rabbitmq ready at $bridge_ip:$amqp_port ($((SECONDS - t0)) s)"
    fi
    ((kafka && rabbit)) && break
    ((kafka)) || is_ours kafka || { tail -20 "$logs/kafka.log" >&2; die "kafka exited (see $logs/kafka.log)"; }
    ((rabbit)) || is_ours rabbitmq || { tail -20 "$logs/rabbitmq.log" >&2; die "rabbitmq exited (see $logs/rabbitmq.log)"; }
    ((SECONDS < deadline)) || die "$( ((kafka)) || echo kafka) $( ((rabbit)) || echo rabbitmq) not ready after 120 s (see $logs)"
    sleep 0.2
  done
  deadline=$((SECONDS + 30))
  until curl -sf "http://$bridge_ip:$s3_port/health" >/dev/null 2>&1; do
    is_ours versitygw || { tail -5 "$logs/versitygw.log" >&2; die "versitygw exited (see $logs/versitygw.log)"; }
    ((SECONDS < deadline)) || die "versitygw not ready after 30 s"
    sleep 0.1
  done
  is_ours versitygw || die "versitygw exited (see $logs/versitygw.log)"
  deadline=$((SECONDS + 10))
  until tcp_open "$bridge_ip" "$nats_port"; do
    ((SECONDS < deadline)) || die "nats not listening on $bridge_ip:$nats_port (see $logs/nats.log)"
    sleep 0.1
  done
  say "brokers ready in $((SECONDS - t0)) s: kafka, rabbitmq, nats, versitygw"
}

down_all() {
  stop versitygw nats kafka rabbitmq
  stop epmd
  stop_foreign_epmd
}

status_all() {
  local rc=0 s addr
  for s in "${SERVICES[@]}"; do
    case $s in
      kafka) addr="UPDRAFT_KAFKA_BROKERS=$bridge_ip:$kafka_port (topic $topic)" ;;
      epmd) addr="127.0.0.1:$epmd_port (RabbitMQ's)" ;;
      rabbitmq) addr="UPDRAFT_AMQP_URL=amqp://$user:$password@$bridge_ip:$amqp_port" ;;
      nats) addr="UPDRAFT_USER_NATS_URL=nats://$bridge_ip:$nats_port (user $user, password $password)" ;;
      versitygw) addr="UPDRAFT_S3_ENDPOINT=http://$bridge_ip:$s3_port (key $user, secret $s3_secret)" ;;
    esac
    if is_ours "$s"; then printf '%-26s running (pid %s) %s\n' "$s" "$(<"$run/$s.pid")" "$addr"
    else printf '%-26s stopped %s\n' "$s" "$addr"; rc=1; fi
  done
  return $rc
}

env_all() {
  echo "export UPDRAFT_KAFKA_BROKERS=$bridge_ip:$kafka_port"
  echo "export UPDRAFT_AMQP_URL=amqp://$user:$password@$bridge_ip:$amqp_port"
  echo "export UPDRAFT_USER_NATS_URL=nats://$bridge_ip:$nats_port"
  echo "export UPDRAFT_USER_NATS_USER=$user"
  echo "export UPDRAFT_USER_NATS_PASSWORD=$password"
  echo "export UPDRAFT_S3_ENDPOINT=http://$bridge_ip:$s3_port"
  echo "export UPDRAFT_S3_ACCESS_KEY=$user"
  echo "export UPDRAFT_S3_SECRET_KEY=$s3_secret"
  echo "export UPDRAFT_S3_EVENTS_TOPIC=$topic"
}

case ${1:-} in
  start) start_all ;;
  wait) wait_all ;;
  down) down_all ;;
  status) status_all ;;
  env) env_all ;;
  rabbitmqctl) shift; rabbitmqctl "$@" ;;
  kafka) shift; kafka_tool "$@" ;;
  # One broker down (tests of a source going away); `start` brings it back.
  stop) shift; for s in "$@"; do [[ " ${SERVICES[*]} " == *" $s "* ]] || die "no broker $s (${SERVICES[*]})"; done; stop "$@" ;;
  *) echo "usage: $0 start|wait|down|status|env | stop BROKER... | rabbitmqctl ARGS... | kafka CLASS ARGS..." >&2; exit 2 ;;
esac
