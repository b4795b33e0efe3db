# Shell functions shared by the benchmark scripts (queue.sh, search.sh, run.sh). Source it from
# bash; it defines functions only.

# Installs the Debian packages given as arguments that are not installed yet, with sudo when not
# root. Does nothing when all are installed.
bench_install_debian_packages() {
  local missing=() package
  for package in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: run as root or install sudo" >&2; return 1; }
    sudo=(sudo)
  fi
  echo "Installing: ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

# Prints the short commit of the repository at $1, with "(with uncommitted changes)" when the
# work tree differs from it, or "unknown" outside git.
bench_commit() {
  local commit
  commit=$(git -C "$1" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git -C "$1" status --porcelain 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes)"
  fi
  echo "$commit"
}

# Prints the "some avg10" CPU pressure in percent, or nothing where the kernel has no PSI.
bench_cpu_pressure() {
  [ -r /proc/pressure/cpu ] || return 0
  sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu
}

# Waits until the CPU pressure (avg10, percent) is below $1 (default 10), for at most $2
# seconds (default 600), and prints the pressure when it returns. Other work on a shared
# machine shows up there as time that runnable tasks spent waiting for a CPU.
bench_wait_for_quiet() {
  local threshold=${1:-10} timeout=${2:-600} start pressure
  start=$(date +%s)
  while :; do
    pressure=$(bench_cpu_pressure)
    if [ -z "$pressure" ] || awk -v p="$pressure" -v t="$threshold" 'BEGIN { exit !(p < t) }' ||
       [ $(($(date +%s) - start)) -ge "$timeout" ]; then
      echo "${pressure:-unknown}"
      return 0
    fi
    echo "waiting for a quiet machine: cpu pressure avg10=${pressure}%" >&2
    sleep 10
  done
}

# Replaces the text between "<!-- $2:begin -->" and "<!-- $2:end -->" in the Markdown file $1
# with the contents of the file $3.
bench_write_section() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
page_path, name, report_path = sys.argv[1:4]
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
page = open(page_path, encoding="utf-8").read()
report = open(report_path, encoding="utf-8").read().strip()
if begin not in page or end not in page:
    sys.exit(f"error: {page_path} has no {begin} ... {end} section")
head, rest = page.split(begin, 1)
_, tail = rest.split(end, 1)
open(page_path, "w", encoding="utf-8").write(f"{head}{begin}\n{report}\n{end}{tail}")
print(f"wrote the report into {page_path}")
PY
}
