# Sourced by the bench scripts that run a fleet by hand: its settings under a private queue
# prefix and database, the processes they start, and the clean-up when they end.
# Before sourcing, set NAME (the database is boltfleet_$NAME, the queue prefix $NAME-$$).
# Needs the release binaries (BIN=target/debug for the debug ones), Postgres, Redis and the
# S3 server of scripts/s3-server.
BIN=${BIN:-target/release}
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/boltfleet_$NAME REDIS_URL=redis://127.0.0.1:6379
export METRICS_ADDR=127.0.0.1:0 QUEUE_PREFIX=$NAME-$$ ARTIFACTS_URL=s3://artifacts/$NAME-$$
export AWS_ENDPOINT_URL=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin
export RUST_LOG=${RUST_LOG:-warn}

psql -h 127.0.0.1 -U postgres -qc "drop database if exists boltfleet_$NAME with (force)" postgres
$BIN/boltfleet collector migrate >/dev/null
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    redis-cli eval "for _, k in ipairs(redis.call('keys', ARGV[1] .. ':*')) do redis.call('del', k) end" 0 "$QUEUE_PREFIX" >/dev/null
}
trap cleanup EXIT

# Waits (up to 30 s) until $1 workers are registered with the queue.
wait_for_workers() {
    for _ in $(seq 300); do
        [ "$(redis-cli zcard "$QUEUE_PREFIX:jobs:workers")" -ge "$1" ] && return
        sleep 0.1
    done
    echo "fewer than $1 workers registered after 30 s" >&2
    exit 1
}
