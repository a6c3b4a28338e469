#!/bin/sh
# run.sh BIN_DIR: start pnad in the foreground with a working local config.
# Uses $PNAD_CONF when set; otherwise writes run/pnad.conf on first use and
# starts a private Redis on 127.0.0.1:6390 unless $PNA_REDIS names one.
set -eu

bin=$1
top=$(cd "$(dirname "$0")/.." && pwd)
run="$top/run"
mkdir -p "$run"

conf=${PNAD_CONF:-$run/pnad.conf}
redis=${PNA_REDIS:-}
if [ -z "$redis" ]; then
	redis=127.0.0.1:6390
	if ! redis-cli -p 6390 ping >/dev/null 2>&1; then
		redis-server --bind 127.0.0.1 --port 6390 --save '' --appendonly no \
			--dir "$run" --daemonize yes --pidfile "$run/redis.pid" \
			--logfile "$run/redis.log"
		echo "started redis-server on $redis (pid file $run/redis.pid)"
	fi
fi
if [ ! -f "$conf" ]; then
	cat >"$conf" <<CONF
# pnad configuration written by 'make run'; see docs/operations.md.
name = pnad
listen = 127.0.0.1:7600
redis = $redis
# shards = 0 means one shard process per core.
shards = 0
# A mail store allowed to connect: store = <id> <credential>
store = local local-secret
# The HTTP/2 admin API (pnactl, curl --http2-prior-knowledge).
admin_listen = 127.0.0.1:7680
admin_token = $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
CONF
	echo "wrote $conf"
fi
echo "pnad: ingest on 127.0.0.1:7600, admin API on 127.0.0.1:7680"
echo "try:  $bin/pna-feed -s local -k local-secret examples/events.jsonl"
echo "      $bin/pnactl -c $conf account alice@example.com"
exec "$bin/pnad" -c "$conf"
