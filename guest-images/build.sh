#!/usr/bin/env bash
# Rebuilds every guest image into guest-images/bin/<name>.
#   src/*.c      -> gcc -O2 -static -g (glibc, static)
#   src/asm/*.S  -> gcc -nostdlib -static -g (no libc, entry _start)
# Usage: guest-images/build.sh [--regen]   (runnable from any cwd)
#   --regen  also regenerate src/asm/asm_shift.S and asm_muldiv.S from
#            their gen_*.py generators (needs python3)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$HERE/src"
BIN="$HERE/bin"
CC="${CC:-gcc}"

if [[ "${1:-}" == "--regen" ]]; then
    for g in "$SRC"/asm/gen_*.py; do
        out="$SRC/asm/$(basename "$g" .py | sed 's/^gen_//').S"
        python3 "$g" > "$out.tmp"
        mv "$out.tmp" "$out"
        echo "regenerated $(basename "$out")"
    done
fi

mkdir -p "$BIN"

# Deterministic, location-independent flags (debug info refers to ./src/...).
COMMON=(-g -static -ffile-prefix-map="$HERE"=. -fno-ident -Wl,--build-id=sha1)
CFLAGS=(-O2 -Wall -Wextra -Wno-unused-result "${COMMON[@]}")
ASFLAGS=(-nostdlib "${COMMON[@]}" -Wl,-z,noexecstack)

# per-image extra flags
extra_flags() {
    case "$1" in
        float_compute) echo "-frounding-math" ;;   # honour fesetround() (GCC ignores FENV_ACCESS)
        threads)       echo "-pthread" ;;
        *)             echo "" ;;
    esac
}
extra_libs() {
    case "$1" in
        float_compute) echo "-lm" ;;
        *)             echo "" ;;
    esac
}

cd "$HERE"
count=0
for c in src/*.c; do
    name="$(basename "$c" .c)"
    # shellcheck disable=SC2046
    "$CC" "${CFLAGS[@]}" $(extra_flags "$name") -o "$BIN/$name" "$c" $(extra_libs "$name")
    echo "built bin/$name"
    count=$((count + 1))
done
# Assemble and link in two steps: a one-step build would leave the random
# temporary object name (ccXXXXXX.o) in the symbol table.
OBJ="$(mktemp -d)"
trap 'rm -rf "$OBJ"' EXIT
for s in src/asm/*.S; do
    name="$(basename "$s" .S)"
    "$CC" -c "${COMMON[@]}" -I src/asm -o "$OBJ/$name.o" "$s"
    "$CC" "${ASFLAGS[@]}" -o "$BIN/$name" "$OBJ/$name.o"
    echo "built bin/$name"
    count=$((count + 1))
done
echo "$count images built with: $("$CC" --version | head -n1)"
