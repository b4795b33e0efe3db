#!/usr/bin/env bash
# Runs the latency benchmark: tgsearch and two peer bots (grammY on Node.js, and a Python design
# with Redis and worker processes) against bench/load_server, a fake Bot API on 127.0.0.1. Then
# writes the report into docs/benchmarks.md between the "latency-bench" markers and plots
# docs/img/latency.png.
#
#   bash bench/run.sh [--quick] [CORPORA_DIR]
#
# --quick runs each scenario for 2 s (a burst of 60 messages), for trying the script; its
# numbers are too short to record. CORPORA_DIR defaults to ../shared/corpora beside the
# repository; the corpus is its en_debian_packages.jsonl.gz, or the sample corpus built into
# tgsearch when that is missing. The build directory is TGSEARCH_BUILD_DIR (default
# build-bench). Installs what is missing: Debian packages with apt-get, grammY with npm ci.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

quick=0
corpora="$root/../shared/corpora"
for argument in "$@"; do
  case "$argument" in
    --quick) quick=1 ;;
    -*) echo "error: unknown option $argument; usage: bench/run.sh [--quick] [CORPORA_DIR]" >&2
        exit 2 ;;
    *) corpora=$argument ;;
  esac
done
build="${TGSEARCH_BUILD_DIR:-$root/build-bench}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
deps="$build/bench-deps"
work="$build/bench-latency"
mkdir -p "$work"

# --- dependencies --------------------------------------------------------------------------
"$root/.ci/deps"
bench_install_debian_packages python3-aiohttp python3-redis redis-server gnuplot-nox
if ! command -v node >/dev/null; then
  bench_install_debian_packages nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "error: Node.js $(node --version) is too old: better-sqlite3 12 needs Node.js 20 or" \
       "later (Debian 12's nodejs is 18; NodeSource packages Node.js 20)" >&2
  exit 1
fi
grammy="$deps/grammy"
mkdir -p "$grammy"
if ! cmp -s "$root/bench/peers/grammy/package-lock.json" "$grammy/package-lock.json" ||
   [ ! -d "$grammy/node_modules" ]; then
  cp "$root/bench/peers/grammy/package.json" "$root/bench/peers/grammy/package-lock.json" \
     "$grammy/"
  # better-sqlite3 compiles its addon with node-gyp, which otherwise downloads Node's headers.
  if [ -f /usr/include/node/node.h ]; then
    export npm_config_nodedir=/usr
  fi
  (cd "$grammy" && npm ci --no-audit --no-fund)
fi
# Node resolves imports from the script's own folder, so the bot runs beside node_modules.
cp "$root/bench/peers/grammy/bot.js" "$grammy/bot.js"

# --- build ---------------------------------------------------------------------------------
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release ${TGSEARCH_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target tgsearch load_server

# --- inputs --------------------------------------------------------------------------------
corpus="$corpora/en_debian_packages.jsonl.gz"
if [ ! -f "$corpus" ]; then
  echo "note: $corpus is missing; using the sample corpus built into tgsearch" >&2
  corpus="$root/app/sample/sample_corpus.jsonl.gz"
fi
corpus=$(cd "$(dirname "$corpus")" && pwd)/$(basename "$corpus")
if [ ! -f "$work/queries.txt" ] || [ "$corpus" -nt "$work/queries.txt" ] ||
   [ "$root/bench/peers/prepare.py" -nt "$work/queries.txt" ] ||
   [ "$(cat "$work/corpus.path" 2>/dev/null)" != "$corpus" ]; then
  python3 "$root/bench/peers/prepare.py" "$corpus" "$work"
  echo "$corpus" > "$work/corpus.path"
fi
token="$work/token"
# A made-up token in the form Telegram uses; the load server accepts only this one.
(umask 077 && echo "123456789:load-test-token-for-127-0-0-1-only" > "$token")

# --- scenarios -----------------------------------------------------------------------------
if [ "$quick" -eq 1 ]; then
  timing=(--duration 2 --warmup 1 --drain 5 --search-step 1 --search-max-steps 8)
  burst_size=60
else
  timing=(--duration 10 --warmup 2 --drain 10 --search-step 3 --search-max-steps 14)
  burst_size=1000
fi
results="$work/results.jsonl"
: > "$results"
log="$work/bots.log"
: > "$log"

# tgsearch with Redis keeps every received update there, as the Python design's queue does.
# One redis-server without persistence serves every session. The wrapper empties it before each
# bot starts, because each session numbers its updates from the same first id.
redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  --dir "$work" --logfile "$work/redis.log" &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
cat > "$work/tgsearch_redis.sh" <<EOF
#!/bin/sh
redis-cli -p $redis_port flushall >/dev/null || exit 1
exec "$build/app/tgsearch" --redis redis://127.0.0.1:$redis_port "\$@"
EOF
chmod +x "$work/tgsearch_redis.sh"

bots=(tgsearch tgsearch_unpaced tgsearch_redis grammy python_redis)
bot_command() {
  case "$1" in
    tgsearch) echo "$build/app/tgsearch --token-file $token --api-url {api_url}" \
                   "--corpus $corpus --log-level warn" ;;
    tgsearch_unpaced) echo "$build/app/tgsearch --flood-limits off --token-file $token" \
                           "--api-url {api_url} --corpus $corpus --log-level warn" ;;
    tgsearch_redis) echo "$work/tgsearch_redis.sh --flood-limits off --token-file $token" \
                         "--api-url {api_url} --corpus $corpus --log-level warn" ;;
    grammy) echo "node $grammy/bot.js --api-url {api_url} --token-file $token" \
                 "--db $work/corpus.sqlite" ;;
    python_redis) echo "/usr/bin/python3 $root/bench/peers/python_redis/bot.py" \
                       "--api-url {api_url} --token-file $token --db $work/corpus.sqlite" ;;
  esac
}

# Waits for CPU pressure under 10%: up to 5 minutes before the first bot and 2 minutes before
# each further one, then goes on regardless and records the pressure. A quick run only records
# it.
quiet_wait=(300 120)
[ "$quick" -eq 1 ] && quiet_wait=(0 0)
pressure_at_start=$(bench_wait_for_quiet 10 "${quiet_wait[0]}")
for bot in "${bots[@]}"; do
  pressure=$(bench_wait_for_quiet 10 "${quiet_wait[1]}")
  echo "{\"scenario\": \"pressure\", \"bot\": \"$bot\", \"cpu_pressure\": \"$pressure\"}" >> "$results"
  scenarios=(steady max-rate inline)
  # Unpaced tgsearch ignores flood limits on purpose, so the burst under them is not its test.
  case "$bot" in tgsearch_unpaced | tgsearch_redis) ;; *) scenarios+=(burst) ;; esac
  for scenario in "${scenarios[@]}"; do
    # shellcheck disable=SC2046 # the command is split into words on purpose
    "$build/bench/load_server" --token-file "$token" --queries "$work/queries.txt" \
      --output "$results" --label "$bot" --bot-log "$log" --scenario "$scenario" \
      --burst-size "$burst_size" "${timing[@]}" -- $(bot_command "$bot") >/dev/null
  done
done

# The load server's own ceiling, against a bot that does no work.
"$build/bench/load_server" --token-file "$token" --queries "$work/queries.txt" \
  --output "$results" --label trivial --bot-log "$log" --scenario max-rate "${timing[@]}" \
  -- "$build/bench/load_server" --trivial-bot --token-file "$token" --api-url {api_url} >/dev/null

# --- report --------------------------------------------------------------------------------
report="$work/report.md"
mkdir -p "$root/docs/img"
python3 "$root/bench/latency_report.py" "$results" \
  --commit "$(bench_commit "$root")" --pressure "$pressure_at_start" \
  --corpus "$(basename "$corpus")" --quick "$quick" \
  --compiler "$("$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")" --version |
                head -n 1)" \
  --plot "$root/docs/img/latency.png" --output "$report"
bench_write_section "$root/docs/benchmarks.md" latency-bench "$report"
