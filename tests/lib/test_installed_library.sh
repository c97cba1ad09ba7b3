#!/usr/bin/env bash
# libhems-journal as another program sees it: install the build into a scratch prefix, build
# tests/lib/external_verify.c with `cc $(pkg-config --cflags --libs hems-journal)` and run it
# on a journal that hems made — then once more after a changed record byte (must say so), and
# check the library exports the API only (no journal__ internals) under its SONAME.
# Also through the installed CMake package (find_package). Args: BUILD_DIR SOURCE_DIR; env HEMS_BIN.
set -euo pipefail
build="$1"; src="$2"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
cmake --install "$build" --prefix "$t/usr" >/dev/null
libdir=$(ls -d "$t"/usr/lib*/ | head -1)
cc="${HEMS_CC:-cc}"; emu="${HEMS_EMU:-}"
if [ -n "${HEMS_PC_SYSTEM:-}" ]; then export PKG_CONFIG_LIBDIR="$libdir/pkgconfig:$HEMS_PC_SYSTEM"; else export PKG_CONFIG_PATH="$libdir/pkgconfig"; fi
$cc -Wall -Werror ${HEMS_CFLAGS:-} -o "$t/external_verify" "$src/tests/lib/external_verify.c" $(pkg-config --cflags --libs hems-journal)
soname=$(readelf -d "$libdir/libhems-journal.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$soname" ] && [ -e "$libdir/$soname" ] || { echo "no SONAME / no $soname installed"; exit 1; }
readelf -d "$t/external_verify" | grep -q "NEEDED.*\[$soname\]" || { echo "external_verify does not link $soname"; exit 1; }
exported=$(nm -D --defined-only "$libdir/libhems-journal.so" | awk '$2 ~ /[TDBR]/ {print $3}' | sed 's/@.*//')
bad=$(grep -v '^journal_[a-z0-9]' <<<"$exported" | grep -v '^$' || true)
[ -z "$bad" ] || { echo "exported beyond the API: $bad"; exit 1; }
grep -q '^journal_verify$' <<<"$exported" || { echo "journal_verify not exported"; exit 1; }

"$HEMS_BIN" init --dir "$t/d" >/dev/null
"$HEMS_BIN" note --dir "$t/d" "seen by an outside program" >/dev/null
out=$(LD_LIBRARY_PATH="$libdir" $emu "$t/external_verify" "$t/d" "$t/d/keys/signing.pub")
echo "$out"
grep -q '^ok: [0-9]* records' <<<"$out"
# flip one byte of the note's text in the store: the outside program must catch it
python3 - "$t/d/journal/data.mdb" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
i = b.find(b"seen by an outside program")
assert i >= 0, "note text not found in data.mdb"
b[i] ^= 0x20
open(p, 'wb').write(bytes(b))
PY
set +e
out=$(LD_LIBRARY_PATH="$libdir" $emu "$t/external_verify" "$t/d" "$t/d/keys/signing.pub"); rc=$?
set -e
echo "$out"
[ $rc = 1 ] && grep -q '^first bad seq' <<<"$out" || { echo "a changed record byte was not caught (exit $rc)"; exit 1; }
# the same program through the CMake package: find_package(hems-journal) → hems::journal
mkdir -p "$t/cm"
cat > "$t/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(outside C)
find_package(hems-journal 0.1 REQUIRED)
add_executable(external_verify $src/tests/lib/external_verify.c)
target_link_libraries(external_verify PRIVATE hems::journal)
CM
cmake -S "$t/cm" -B "$t/cm/b" -DCMAKE_PREFIX_PATH="$t/usr" -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${HEMS_CFLAGS:-}" >/dev/null
cmake --build "$t/cm/b" >/dev/null
rm -rf "$t/d2"; "$HEMS_BIN" init --dir "$t/d2" >/dev/null
LD_LIBRARY_PATH="$libdir" $emu "$t/cm/b/external_verify" "$t/d2" "$t/d2/keys/signing.pub" | grep -q '^ok: '
echo "installed library: $soname, $(wc -l <<<"$exported") exported symbols"
