#!/usr/bin/env bash
# Builds and runs the search benchmark (tgsearch against Xapian and SQLite FTS5), then writes its
# report into docs/benchmarks.md between the "search-bench" markers.
#
#   bash bench/search.sh [CORPORA_DIR] [search_bench options...]
#
# CORPORA_DIR must contain en_debian_packages.jsonl.gz, ar_quran.jsonl.gz and
# queries_sample.tsv. Without it, the script looks in ../shared/corpora next to the repository. Extra arguments go to search_bench (see
# search_bench --help).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${TGSEARCH_BUILD_DIR:-$root/build}"
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

corpora="$root/../shared/corpora"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  corpora=$1
  shift
fi
for file in en_debian_packages.jsonl.gz ar_quran.jsonl.gz queries_sample.tsv; do
  if [ ! -f "$corpora/$file" ]; then
    echo "error: $corpora/$file is missing; pass the corpora directory as the first argument" >&2
    exit 2
  fi
done
corpora=$(cd "$corpora" && pwd)

"$root/.ci/deps"
bench_install_debian_packages libxapian-dev libsqlite3-dev

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TGSEARCH_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target search_bench

commit=$(bench_commit "$root")
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$build/bench/search_bench" "$corpora/en_debian_packages.jsonl.gz" "$corpora/ar_quran.jsonl.gz" \
  --sample "$corpora/queries_sample.tsv" --commit "$commit" --output "$report" "$@"

bench_write_section "$root/docs/benchmarks.md" search-bench "$report"
