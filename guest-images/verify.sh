#!/usr/bin/env bash
# Runs every manifest.tsv row twice and compares stdout, exit status and the
# files left in the (fresh, empty) working directory.
#   guest-images/verify.sh                 native vs native (determinism check)
#   RUNNER="qemu-x86_64" guest-images/verify.sh
#   RUNNER="dotnet path/to/Hv.dll" guest-images/verify.sh   native vs RUNNER
# Environment given to the guest: only HV_TEST_VAR=hello (HV_OTHER unset).
# Exit status of a run killed by a signal is reported as 128+signal.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUNNER="${RUNNER:-}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# run <outdir> <prefix...> -- <binary> <args...>; stdin from $STDIN
run_one() {
    local out="$1"; shift
    mkdir -p "$out/cwd"
    local rc=0
    (
        cd "$out/cwd"
        exec env -i HV_TEST_VAR=hello "$@" < "$STDIN" > "$out/stdout" 2> "$out/stderr"
    ) || rc=$?
    echo "$rc" > "$out/status"
    # snapshot of files created in cwd: type, relative path, size, content hash
    (cd "$out/cwd" && find . -mindepth 1 | LC_ALL=C sort | while read -r f; do
        if [[ -L "$f" ]]; then echo "L $f -> $(readlink "$f")"
        elif [[ -d "$f" ]]; then echo "D $f"
        else echo "F $f $(stat -c %s "$f") $(sha256sum < "$f" | cut -d' ' -f1)"; fi
    done) > "$out/files"
}

fail=0
while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    # (tab is IFS-whitespace in bash, so empty fields would collapse: split on \x1f)
    IFS=$'\x1f' read -r name args stdin_file kind <<< "${line//$'\t'/$'\x1f'}"
    bin="$HERE/bin/$name"
    if [[ "$stdin_file" == "-" ]]; then STDIN=/dev/null; else STDIN="$HERE/$stdin_file"; fi
    read -r -a argv <<< "$args"
    a="$WORK/$name.a"; b="$WORK/$name.b"
    start=$(date +%s%N)
    run_one "$a" "$bin" "${argv[@]}"
    t_native=$(( ($(date +%s%N) - start) / 1000000 ))
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    run_one "$b" $RUNNER "$bin" "${argv[@]}"
    t_second=$(( ($(date +%s%N) - start) / 1000000 ))
    status="$(cat "$a/status")"
    ok=1
    cmp -s "$a/stdout" "$b/stdout" || { ok=0; echo "  $name: stdout differs"; diff "$a/stdout" "$b/stdout" | head -10 || true; }
    cmp -s "$a/status" "$b/status" || { ok=0; echo "  $name: exit status $(cat "$a/status") vs $(cat "$b/status")"; }
    cmp -s "$a/files" "$b/files" || { ok=0; echo "  $name: files differ"; diff "$a/files" "$b/files" || true; }
    if [[ $ok == 1 ]]; then res=OK; else res=FAIL; fail=$((fail + 1)); fi
    printf '%-14s %-8s exit=%-4s stdout=%6s bytes files=%s  %5d ms / %5d ms  %s\n' \
        "$name" "$kind" "$status" "$(wc -c < "$a/stdout")" "$(wc -l < "$a/files")" "$t_native" "$t_second" "$res"
done < "$HERE/manifest.tsv"
echo "$fail failure(s)"
[[ $fail == 0 ]]
