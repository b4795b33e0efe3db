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
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

"$root/.ci/deps"
bench_install_debian_packages libconcurrentqueue-dev
if [ ! -f "$deps/usr/include/atomic_queue/atomic_queue.h" ]; then
  download=$(mktemp -d)
  (cd "$download" && apt-get download libatomic-queue-dev >/dev/null)
  mkdir -p "$deps"
  dpkg-deb -x "$download"/libatomic-queue-dev_*.deb "$deps"
  rm -rf "$download"
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TGSEARCH_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target queue_bench

commit=$(bench_commit "$root")
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$build/bench/queue_bench" --commit "$commit" --output "$report" "$@"

bench_write_section "$root/docs/benchmarks.md" queue-bench "$report"
