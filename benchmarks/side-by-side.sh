#!/usr/bin/env bash
# Runs guest workloads natively, under qemu-x86_64 and under hv (each execution mode) in one run, prints a
# table of wall times as ratios to native, and appends it (with date and commit) to benchmarks/RESULTS.md.
#
#   benchmarks/side-by-side.sh                 # compute images (repeated to ~0.3-1 s natively) + busybox on 32 MiB
#   SIZE_MB=4 SCALE=1 MODES="tiered" RUNS=3 benchmarks/side-by-side.sh
#   SET=smc MODES=tiered benchmarks/side-by-side.sh   # SET=compute (default) | smc | all
#
# SCALE multiplies each compute image's repeat count (its optional first argument; SCALE=1 keeps the repeat
# counts below, SCALE=0 runs every image once, as the tests do). HV_ARGS adds options to every hv run.
# SET=smc runs the manifest's smc rows with their benchmark round counts (smc_bench_args below, as in
# guest-images/README.md); a run that fails (e.g. qemu-user on smc_memfd_dual) shows "fail".
#
# Needs qemu-user and busybox-static (apt-get install -y qemu-user busybox-static). Times are the best of
# RUNS runs; machines here are shared and noisy, so read the ratios, not the absolute times.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SIZE_MB="${SIZE_MB:-32}"
SCALE="${SCALE:-1}"
HV_ARGS="${HV_ARGS:-}"
RUNS="${RUNS:-1}"
MODES="${MODES:-interpret translate tiered}"
TIMEOUT="${TIMEOUT:-900}"
SET="${SET:-compute}"
case "$SET" in compute|smc|all) ;; *) echo "SET must be compute, smc or all" >&2; exit 2 ;; esac
out="$root/benchmarks/RESULTS.md"

command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 missing: apt-get install -y qemu-user" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "/bin/busybox missing: apt-get install -y busybox-static" >&2; exit 1; }

build="$root/benchmarks/.build/hv"
# The commit measured is the one built now (the tree may move on while the workloads run).
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Published as users deploy it: ReadyToRun-precompiled, which halves hv's own start-up (~0.19 -> ~0.10 s).
dotnet publish "$root/src/Hv.Cli" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -o "$build" -v q -nologo >/dev/null
hv=(dotnet "$build/hv.dll" run)
# shellcheck disable=SC2206
if [ -n "$HV_ARGS" ]; then hv+=($HV_ARGS); fi

# Repeat counts that make each compute image run ~0.3-1 s natively (steady state, not start-up and JIT).
declare -A repeats=([int_compute]=5 [float_compute]=4 [strings_sort]=8 [sha_bench]=5 [recursion]=12)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$SIZE_MB" <<'PY'
import random, sys
d, mb = sys.argv[1], int(sys.argv[2])
r = random.Random(7)
n = mb * 1024 * 1024
with open(f"{d}/data.bin", "wb") as f:
    half = n // 2
    f.write(r.randbytes(half))
    f.write((b"hv side by side " * (half // 16 + 1))[: n - half])
with open(f"{d}/lines.txt", "w") as f:
    size = 0
    while size < n:
        line = "%d %s\n" % (r.randrange(10**9), "".join(r.choice("abcdefghij") for _ in range(r.randrange(4, 12))))
        f.write(line); size += len(line)
PY

# Benchmark arguments of an smc manifest row ("" = skip the row: not a benchmark).
smc_bench_args() {
  case "$1 $2" in
    "smc_jit_mprotect ") echo 200000 ;;
    "smc_patch_rwx ") echo 1000000 ;;
    "smc_next_insn ") echo 100000 ;;
    "smc_page_straddle ") echo 300000 ;;
    "smc_code_counters ") echo 1000000 ;;
    "smc_rx_write ") echo 20000 ;;
    "smc_many_functions ") echo 2000 ;;
    "smc_patch_text ") echo 50000 ;;
    "smc_memfd_dual ") echo 200000 ;;
    "smc_read_into_code ") echo 50000 ;;
    "smc_data_on_code_page code 5000") echo "code 2000000" ;;
    "smc_data_on_code_page ordinary 5000") echo "ordinary 2000000" ;;
    *) echo "" ;;
  esac
}

# name|command (relative to the work dir; IMAGE-style commands get the runner prefixed)
workloads=()
while IFS= read -r line; do
  # Tabs are whitespace to `read`, so empty fields would collapse: split on a non-whitespace separator.
  IFS=$'\x1f' read -r name args stdin kind <<<"${line//$'\t'/$'\x1f'}"
  if [ "$kind" = compute ] && [ "$SET" != smc ]; then
    n=$(( ${repeats[$name]:-1} * SCALE ))
    if [ "$n" -gt 1 ] && [ -z "$args" ]; then
      workloads+=("$name x$n|$root/guest-images/bin/$name $n")
    else
      workloads+=("$name|$root/guest-images/bin/$name $args")
    fi
  elif [ "$kind" = smc ] && [ "$SET" != compute ]; then
    bench="$(smc_bench_args "$name" "$args")"
    if [ -n "$bench" ]; then workloads+=("$name $bench|$root/guest-images/bin/$name $bench"); fi
  fi
done < "$root/guest-images/manifest.tsv"
if [ "$SET" != smc ]; then
  workloads+=("busybox sha256sum ${SIZE_MB}MiB|/bin/busybox sha256sum data.bin")
  workloads+=("busybox sort ${SIZE_MB}MiB|/bin/busybox sort lines.txt")
  workloads+=("busybox gzip ${SIZE_MB}MiB|/bin/busybox gzip -c data.bin")
fi

now_ns() { date +%s%N; }
# best wall time in ms of RUNS runs; prints "fail" if the command fails or times out
measure() {
  local best="" t0 t1 ms
  for _ in $(seq "$RUNS"); do
    t0=$(now_ns)
    if ! (cd "$work" && timeout "$TIMEOUT" "$@" >/dev/null 2>"$work/stderr"); then echo fail; return; fi
    t1=$(now_ns)
    ms=$(( (t1 - t0) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}
ratio() { if [ "$1" = fail ]; then echo fail; elif [[ "$1" =~ ^[0-9]+$ && "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]]; then awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; else echo "-"; fi; }

header="| workload | native ms | qemu/native |"
sep="|---|---|---|"
for m in $MODES; do header="$header hv-$m/native | hv-$m/qemu |"; sep="$sep---|---|"; done
table="$header"$'\n'"$sep"
for w in "${workloads[@]}"; do
  name="${w%%|*}"; cmd="${w#*|}"
  read -r -a argv <<<"$cmd"
  native=$(measure "${argv[@]}")
  qemu=$(measure qemu-x86_64 "${argv[@]}")
  row="| $name | $native | $(ratio "$qemu" "$native") |"
  for m in $MODES; do
    t=$(measure "${hv[@]}" --mode "$m" -- "${argv[@]}")
    row="$row $(ratio "$t" "$native") | $(ratio "$t" "$qemu") |"
  done
  echo "$row" >&2
  table="$table"$'\n'"$row"
done

{
  echo
  echo "## $(date -u +%Y-%m-%d) commit $commit (SET=$SET, SIZE_MB=$SIZE_MB, SCALE=$SCALE, best of $RUNS${HV_ARGS:+, hv $HV_ARGS})"
  echo
  echo "$table"
} | tee -a "$out"
