#!/usr/bin/env bash
# shellcheck shell=bash
# Helpers shared by scripts/outage and scripts/soak: the release build of the dev server,
# push-agent and the traffic driver (tests/bench/mixed.rs, `perf mixed`), a moto of their
# own (one request at a time, a table without a stream: load_start_moto says why) and the
# dev server on it. Source it; call load_cleanup from the caller's EXIT trap.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    echo "scripts/lib-load.sh is meant to be sourced by the other scripts" >&2
    exit 2
fi
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_moto_pid=""
load_server_pid=""

# Release build (under `nice`: the machine is shared) into LATCHKEY_LOAD_TARGET_DIR
# (default: the checkout's target/). Sets load_bin to the profile directory.
load_build() {
    local target="${LATCHKEY_LOAD_TARGET_DIR:-$LATCHKEY_ROOT/target}"
    log "release build: dev-server, push-agent, perf (target ${target#"$LATCHKEY_ROOT"/})"
    CARGO_TARGET_DIR="$target" nice -n 10 cargo build --release --quiet \
        -p latchkey-functions --features latchkey-functions/dev-server --bin dev-server \
        -p push-agent --bin push-agent \
        -p latchkey-tests --features latchkey-tests/bench --example perf ||
        die "release build failed"
    load_bin="$target/release"
}

# A moto of this script's own on port $1, with table $2 and the push topic. Sets
# load_endpoint and load_moto_pid (scripts/outage freezes it).
#
# Not scripts/local-stack's moto, for two reasons, both measured here:
# - moto 5.2.5's threaded server races with itself under load: TransactWriteItems
#   deep-copies the table while another thread writes to it ("RuntimeError: dictionary
#   changed size during iteration", an HTML 500; 125 of them in one 60 s outage run), and a
#   cancelled transaction restores a snapshot over other requests' writes. This one serves
#   one request at a time (werkzeug without threads), as atomic as DynamoDB is per call.
# - moto never lets go of a model object (see below): the soak's first full run grew moto
#   to 9 GB in 10 minutes, and its garbage collections stalled every request for seconds.
# - the table has no stream: moto copies the whole table, stream included (every write
#   ever made), on each transaction; with the stream, a transaction took ~50 ms after 100
#   writes and ~180 ms after 500, without it ~20 ms throughout.
load_start_moto() {
    local port=$1 table=$2 i
    load_endpoint="http://127.0.0.1:$port"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "something already listens on 127.0.0.1:$port"
    fi
    "$LATCHKEY_VENV/bin/python" - "$port" >"$LATCHKEY_LOCAL/load-moto-$port.log" 2>&1 <<'PY' &
import sys
from werkzeug.serving import run_simple
from moto.core.common_models import BaseModel
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

# moto keeps every model object it ever made in a class-level list (for its reset API),
# copies included: each transaction's deep copy of the table stayed alive, about 0.5 MB a
# request here, and Python's full collections grew into pauses of 2-15 s.
BaseModel.__new__ = staticmethod(lambda cls, *args, **kwargs: object.__new__(cls))
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app),
           threaded=False, request_handler=MotoRequestHandler)
PY
    load_moto_pid=$!
    for ((i = 0; i < 150; i++)); do
        http_ok "$load_endpoint/moto-api/data.json" && break
        kill -0 "$load_moto_pid" 2>/dev/null || die "moto exited: $(tail -n 20 "$LATCHKEY_LOCAL/load-moto-$port.log")"
        sleep 0.2
    done
    "$LATCHKEY_VENV/bin/python" - "$load_endpoint" "$table" infra/table.json <<'PY' || die "could not create the table and topic"
import json, sys
import boto3
endpoint, table, spec_path = sys.argv[1:4]
aws = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
           aws_secret_access_key="test")
spec = json.load(open(spec_path))
for key in ("TableName", "TimeToLiveAttribute", "StreamSpecification"):
    spec.pop(key, None)
boto3.client("dynamodb", **aws).create_table(TableName=table, **spec)
# SignatureVersion 2: the only one push-agent accepts.
boto3.client("sns", **aws).create_topic(Name="latchkey-push", Attributes={"SignatureVersion": "2"})
PY
}

# The release dev server on port $1, table $2, against load_endpoint; log in $3.
load_start_server() {
    local port=$1 table=$2 logfile=$3 i
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "something already listens on 127.0.0.1:$port"
    fi
    LATCHKEY_DEV_ADDR="127.0.0.1:$port" LATCHKEY_AWS_ENDPOINT="$load_endpoint" AWS_REGION=us-east-1 \
        LATCHKEY_TABLE="$table" LATCHKEY_PUBLIC_URL="http://localhost:$port" \
        LATCHKEY_PUSH_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:latchkey-push" \
        LATCHKEY_MASTER_SECRET="$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')" \
        RUST_LOG=warn "$load_bin/dev-server" >"$logfile" 2>&1 &
    load_server_pid=$!
    for ((i = 0; i < 150; i++)); do
        http_ok "http://127.0.0.1:$port/" && return 0
        kill -0 "$load_server_pid" 2>/dev/null || die "dev-server exited: $(tail -n 20 "$logfile")"
        sleep 0.2
    done
    die "dev-server not listening on $port after 30s"
}

load_cleanup() {
    if [[ -n $load_moto_pid ]]; then
        # Never leave a frozen moto behind.
        kill -CONT "$load_moto_pid" 2>/dev/null || true
    fi
    if [[ -n $load_server_pid ]]; then
        kill "$load_server_pid" 2>/dev/null || true
        wait "$load_server_pid" 2>/dev/null || true
    fi
    if [[ -n $load_moto_pid ]]; then
        kill "$load_moto_pid" 2>/dev/null || true
        wait "$load_moto_pid" 2>/dev/null || true
    fi
}

# Prints the driver's report ($1, JSON) as a short table.
load_summary() {
    "$LATCHKEY_VENV/bin/python" - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['seconds']:.0f} s, {r['workers']} workers: {r['requests']} requests "
      f"({r['requests_per_second']:.1f}/s), {r['flows_ok']} flows ok ({r['flows_per_second']:.2f}/s), "
      f"statuses {r['statuses']}, 5xx or no answer: {r['server_errors_5xx_or_none']}")
print(f"{'flow / route':44} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
for group in ("flows", "routes"):
    for name, s in r[group].items():
        print(f"{name:44} {s['count']:>6} {s['p50_ms']:>8} {s['p99_ms']:>8} {s['max_ms']:>8}")
o = r.get("outage")
if o:
    print(f"outage: moto stopped at {o['stopped_at_s']:.1f} s, resumed at {o['resumed_at_s']:.1f} s; "
          f"{o['answers_503_in_window']} answers 503 (p50 {o['latency_of_503']['p50_ms']} ms, "
          f"max {o['latency_of_503']['max_ms']} ms), last 503 {o['last_503_after_resume_s']:.1f} s after resume "
          f"(grace {o['grace_s']:.0f} s); flows ok after the grace: {o['successful_flows_after_grace']}")
m = r.get("memory")
if m:
    print(f"dev-server RSS: {m['rss_kib_before_load']} KiB before load, {m['rss_kib_start_after_warmup']} KiB "
          f"after {m['warmup_s']:.0f} s warm-up, {m['rss_kib_end']} KiB at the end, max {m['rss_kib_max']} KiB: "
          f"{'flat' if m['flat'] else 'NOT flat'}")
if r.get("table"):
    print(f"table: {r['table']}; sweeps (items, deleted): {r.get('sweeps')}")
print(f"check: {r['check']}")
for f in r["failures"]:
    print(f"FAIL: {f}")
print("verdict:", "PASS" if not r["failures"] else "FAIL")
PY
}
