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
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
for package in libxapian-dev libsqlite3-dev; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "$package"
  fi
done

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TGSEARCH_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target search_bench

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$build/bench/search_bench" "$corpora/en_debian_packages.jsonl.gz" "$corpora/ar_quran.jsonl.gz" \
  --sample "$corpora/queries_sample.tsv" --commit "$commit" --output "$report" "$@"

python3 - "$root/docs/benchmarks.md" "$report" <<'PY'
import sys
page_path, report_path = sys.argv[1], sys.argv[2]
begin, end = "<!-- search-bench:begin -->", "<!-- search-bench:end -->"
page = open(page_path, encoding="utf-8").read()
report = open(report_path, encoding="utf-8").read().strip()
if begin not in page or end not in page:
    sys.exit(f"error: {page_path} has no {begin} ... {end} section")
head, rest = page.split(begin, 1)
_, tail = rest.split(end, 1)
open(page_path, "w", encoding="utf-8").write(f"{head}{begin}\n{report}\n{end}{tail}")
print(f"wrote the report into {page_path}")
PY
