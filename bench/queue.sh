#!/usr/bin/env bash
# Builds and runs the queue benchmark, then writes its report into docs/benchmarks.md between
# the "queue-bench" markers. Extra arguments go to queue_bench (see queue_bench --help).
#
# The peers come from Debian 12. libconcurrentqueue-dev installs normally. libatomic-queue-dev
# depends on libboost-dev, which is Boost 1.74 and conflicts with the Boost 1.81 packages that
# tgsearch builds with, so its headers are unpacked into build/bench-deps instead of installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build"
deps="$build/bench-deps"

"$root/.ci/deps"
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
if ! dpkg-query -W -f='${Status}' libconcurrentqueue-dev 2>/dev/null | grep -q "install ok installed"; then
  "${sudo[@]}" apt-get install -y -q --no-install-recommends libconcurrentqueue-dev
fi
if [ ! -f "$deps/usr/include/atomic_queue/atomic_queue.h" ]; then
  download=$(mktemp -d)
  (cd "$download" && apt-get download libatomic-queue-dev >/dev/null)
  mkdir -p "$deps"
  dpkg-deb -x "$download"/libatomic-queue-dev_*.deb "$deps"
  rm -rf "$download"
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TGSEARCH_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target queue_bench

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$build/bench/queue_bench" --commit "$commit" --output "$report" "$@"

python3 - "$root/docs/benchmarks.md" "$report" <<'PY'
import sys
page_path, report_path = sys.argv[1], sys.argv[2]
begin, end = "<!-- queue-bench:begin -->", "<!-- queue-bench:end -->"
page = open(page_path, encoding="utf-8").read()
report = open(report_path, encoding="utf-8").read().strip()
if begin not in page or end not in page:
    sys.exit(f"error: {page_path} has no {begin} ... {end} section")
head, rest = page.split(begin, 1)
_, tail = rest.split(end, 1)
open(page_path, "w", encoding="utf-8").write(f"{head}{begin}\n{report}\n{end}{tail}")
print(f"wrote the report into {page_path}")
PY
