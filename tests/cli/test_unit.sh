#!/usr/bin/env bash
# The installed systemd integration, as a package would lay it out: `cmake --install` into a
# DESTDIR with --prefix /usr, then
#   - every file where systemd, sysusers, tmpfiles and udev look, the unit's ExecStart being the
#     installed binary (/usr/bin/hems, executable inside the DESTDIR) with no @VAR@ left;
#   - `systemd-analyze verify` on the installed unit, the DESTDIR as its root (plus what the
#     base system provides: the *.target units and /bin/kill, copied from this machine; its man
#     page from the DESTDIR): no complaint;
#   - `systemd-analyze security --offline`: the exposure score, printed, at most 2.0;
#   - `systemd-sysusers --root` applies the installed sysusers.d file to the DESTDIR's empty
#     /etc: user hems (home /var/lib/hems) and groups hems-hw and hems-operators, hems their only
#     member; every user and group the unit, tmpfiles.d and the udev rules name is one it
#     creates; `systemd-tmpfiles --root --create` (as root) then makes /var/lib/hems 0750
#     hems:hems and /run/hems 2750 hems:hems-operators;
#   - the daemon's system calls (strace), and the live clock's (`hems note`), all pass the
#     unit's SystemCallFilter=.
# Run by CTest with the cmake program and the build dir.
set -euo pipefail
CMAKE="$1"
BUILD="$2"
MAX_EXPOSURE=2.0
T=$(mktemp -d /tmp/hems-test-unit-XXXXXX); trap 'rm -rf "$T"' EXIT
D="$T/root"
fail=0
bad() { echo "test_unit: $*"; fail=1; }

DESTDIR="$D" "$CMAKE" --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1 || { cat "$T/install.log"; exit 1; }
unit=/usr/lib/systemd/system/hems.service
for f in /usr/bin/hems $unit /usr/lib/sysusers.d/hems.conf /usr/lib/tmpfiles.d/hems.conf \
         /usr/lib/udev/rules.d/70-hems.rules /usr/share/man/man1/hems.1; do
  [ -f "$D$f" ] || bad "$f not installed"
done
[ "$fail" = 0 ] || exit 1

exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$D$unit")
[ "$exe" = /usr/bin/hems ] || bad "ExecStart runs '$exe', not /usr/bin/hems"
[ -x "$D$exe" ] || bad "ExecStart's $exe is not an executable in the DESTDIR"
if grep -n '@[A-Z_]*@' "$D$unit"; then bad "unreplaced @VAR@ in the installed unit"; fi

# The base system the unit runs on: its targets and /bin/kill (ExecReload=; procps).
mkdir -p "$D/usr/lib/systemd/system"
cp /lib/systemd/system/*.target "$D/usr/lib/systemd/system/"
[ -e "$D/bin" ] || ln -s usr/bin "$D/bin"
cp /bin/kill "$D/usr/bin/kill"
if ! out=$(MANPATH="$D/usr/share/man" systemd-analyze verify --root="$D" "$unit" 2>&1) || [ -n "$out" ]; then
  bad "systemd-analyze verify:"
  echo "$out"
fi

sec=$(systemd-analyze security --offline=true --root="$D" --no-pager hems.service 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for hems.service: \([0-9.]*\).*/\1/p' <<<"$sec")
if [ -z "$score" ]; then
  bad "no exposure score from systemd-analyze security:"
  echo "$sec"
else
  echo "systemd-analyze security: exposure $score (at most $MAX_EXPOSURE); what still counts:"
  grep '✗' <<<"$sec" | sed 's/  */ /g' || true
  awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || bad "exposure $score > $MAX_EXPOSURE"
fi

# sysusers.d applied to the DESTDIR's own (empty) /etc: the users and groups it makes
mkdir -p "$D/etc"
su=$(systemd-sysusers --root="$D" 2>&1) || { bad "systemd-sysusers failed:"; echo "$su"; }
grp() { awk -F: -v g="$1" -v n="$2" '$1 == g { print $n }' "$D/etc/group"; }
for g in hems hems-hw hems-operators; do [ -n "$(grp "$g" 3)" ] || bad "sysusers made no group $g"; done
[ "$(grp hems-hw 4)" = hems ] || bad "hems-hw members '$(grp hems-hw 4)': only hems may hold the hardware"
[ "$(grp hems-operators 4)" = hems ] || bad "hems-operators members '$(grp hems-operators 4)', want hems"
hems_uid=$(awk -F: '$1 == "hems" { print $3 }' "$D/etc/passwd")
[ -n "$hems_uid" ] || bad "sysusers made no user hems"
[ "$(awk -F: '$1 == "hems" { print $6 }' "$D/etc/passwd")" = /var/lib/hems ] || bad "user hems's home is not /var/lib/hems"
# tmpfiles.d applied to the DESTDIR (names resolved in its /etc): chown needs root
if [ "$(id -u)" = 0 ]; then
  tf=$(systemd-tmpfiles --root="$D" --create 2>&1) || { bad "systemd-tmpfiles failed:"; echo "$tf"; }
  want_state="750 $hems_uid $(grp hems 3)" want_run="2750 $hems_uid $(grp hems-operators 3)"
  got_state=$(stat -c '%a %u %g' "$D/var/lib/hems" 2>&1) got_run=$(stat -c '%a %u %g' "$D/run/hems" 2>&1)
  [ "$got_state" = "$want_state" ] || bad "/var/lib/hems is '$got_state', want '$want_state' (mode uid gid)"
  [ "$got_run" = "$want_run" ] || bad "/run/hems is '$got_run', want '$want_run' (mode uid gid)"
else
  echo "HEMS-SKIP test_unit-tmpfiles: not root: systemd-tmpfiles cannot chown the DESTDIR's /var/lib/hems and /run/hems"
fi
created=$(cut -d: -f1 "$D/etc/passwd" "$D/etc/group" | sort -u)
named=$(sed -n 's/^\(User\|Group\)=//p' "$D$unit"
        awk '$1 !~ /^#/ && NF >= 5 { print $4; print $5 }' "$D/usr/lib/tmpfiles.d/hems.conf"
        grep -o 'GROUP:\?="[^"]*"' "$D/usr/lib/udev/rules.d/70-hems.rules" | sed 's/.*="\(.*\)"/\1/')
for n in $named; do grep -qx "$n" <<<"$created" || bad "'$n' is named but sysusers.d/hems.conf does not create it"; done
grep -q 'GROUP:="hems-hw"' "$D/usr/lib/udev/rules.d/70-hems.rules" || bad "the udev rules give no node to hems-hw"

# The unit's syscall filter lets the daemon run: every call a simulated run makes (strace -f),
# with a client asking its status over the socket, is in the set the installed unit's
# SystemCallFilter= lines allow, computed in their order (the first an allow list; "~" removes,
# later lines add) with the groups as systemd-analyze expands them.
expand() {
  case "$1" in
    @*) local x
        for x in $(systemd-analyze syscall-filter "$1" | sed -e '1d' -e 's/^ *//' -e '/^#/d' -e '/^$/d'); do expand "$x"; done ;;
    *) echo "$1" ;;
  esac
}
: >"$T/allowed"
while read -r v; do
  if [ "${v#\~}" != "$v" ]; then
    for x in ${v#\~}; do expand "$x"; done | sort -u >"$T/drop"
    sort -u "$T/allowed" | comm -23 - "$T/drop" >"$T/keep"; mv "$T/keep" "$T/allowed"
  else
    for x in $v; do expand "$x"; done >>"$T/allowed"
  fi
done < <(sed -n 's/^SystemCallFilter=//p' "$D$unit")
sort -u "$T/allowed" -o "$T/allowed"
[ "$(wc -l <"$T/allowed")" -gt 100 ] || bad "the unit's syscall filter parsed to $(wc -l <"$T/allowed") calls"
"$D/usr/bin/hems" init --dir "$T/data" >/dev/null
# a sanitizer build's LeakSanitizer cannot work under ptrace: off for the traced runs only
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
strace -f -qq -o "$T/trace" "$D/usr/bin/hems" run --dir "$T/data" --socket "$T/data/control.sock" --sim default \
  --speed 1 --for 6s 2>"$T/run.err" &
run_pid=$!
for _ in $(seq 1 300); do [ -S "$T/data/control.sock" ] && break; sleep 0.1; done
"$D/usr/bin/hems" status --dir "$T/data" >/dev/null 2>&1 || true
wait "$run_pid" || { bad "hems run under strace failed:"; cat "$T/run.err"; }
# the simulated panel runs on a virtual clock; the journal's live clock (adjtimex for the time
# quality), as on hardware, is what `hems note` appends with
strace -f -qq -o "$T/trace.note" "$D/usr/bin/hems" note --dir "$T/data" "syscall check" >/dev/null 2>"$T/note.err" ||
  { bad "hems note under strace failed:"; cat "$T/note.err"; }
cat "$T/trace.note" >>"$T/trace"
grep -q 'adjtimex\|clock_adjtime' "$T/trace" || bad "no adjtimex/clock_adjtime in the traces: the live clock was not exercised"
sed -e 's/^[0-9]* *//' -n -e 's/^\([a-z_0-9]*\)(.*/\1/p' "$T/trace" | sort -u >"$T/used"
grep -qx accept4 "$T/used" || grep -qx accept "$T/used" || bad "the status client never reached the daemon under strace"
outside=$(comm -23 "$T/used" "$T/allowed")
[ -z "$outside" ] || bad "the daemon calls what the unit's SystemCallFilter= refuses: $outside"
echo "syscalls: the daemon made $(wc -l <"$T/used") distinct calls, all in the unit's filter ($(wc -l <"$T/allowed") allowed)"

# The bridges' units (MQTT, Modbus TCP, SunSpec): installed beside the daemon's, verified, each its own
# user (created by sysusers.d, in no group there: hems-operators comes as a supplementary group
# of the unit only), an exposure score of its own (they have the network the daemon has not).
BRIDGE_MAX_EXPOSURE=2.5
# hems ship is a bridge too (hems-ship.service, user hems-ship); its one writable place is its
# own StateDirectory= (the cursor), never the data dir.
for bridge in mqtt modbus sunspec ship; do
  bunit=/usr/lib/systemd/system/hems-bridge-$bridge.service
  [ $bridge = ship ] && bunit=/usr/lib/systemd/system/hems-ship.service
  if [ ! -f "$D$bunit" ]; then bad "$bunit not installed"; continue; fi
  [ "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$D$bunit")" = /usr/bin/hems ] || bad "the $bridge bridge's ExecStart is not /usr/bin/hems"
  if grep -n '@[A-Z_]*@' "$D$bunit"; then bad "unreplaced @VAR@ in the $bridge bridge's unit"; fi
  if ! out=$(MANPATH="$D/usr/share/man" systemd-analyze verify --root="$D" "$bunit" 2>&1) || [ -n "$out" ]; then
    bad "systemd-analyze verify ($bridge bridge):"
    echo "$out"
  fi
  for n in $(sed -n 's/^\(User\|Group\|SupplementaryGroups\)=//p' "$D$bunit"); do
    grep -qx "$n" <<<"$created" || bad "the $bridge bridge's unit names '$n', which sysusers.d/hems.conf does not create"
  done
  [ "$(grp hems-$bridge 4)" = "" ] || bad "group hems-$bridge has members"
  if [ $bridge = ship ]; then
    grep -qx 'StateDirectory=hems-ship' "$D$bunit" || bad "the ship unit keeps its cursor nowhere of its own"
    grep -q -- '--state /var/lib/hems-ship/' "$D$bunit" || bad "the ship unit's --state is not in its StateDirectory"
    grep -q -- '--pubkey /etc/hems/' "$D$bunit" || bad "the ship unit reads the public key from the data dir it cannot open"
  fi
  grep -q 'PrivateNetwork=yes' "$D$bunit" && bad "the $bridge bridge needs the network"
  grep -q '^ReadWritePaths=' "$D$bunit" && bad "the $bridge bridge writes nowhere"
  bname=$(basename "$bunit")
  bsec=$(systemd-analyze security --offline=true --root="$D" --no-pager "$bname" 2>&1) || true
  bscore=$(sed -n "s/.*Overall exposure level for $bname: \([0-9.]*\).*/\1/p" <<<"$bsec")
  if [ -z "$bscore" ]; then bad "no exposure score for the $bridge bridge:"; echo "$bsec"; else
    echo "systemd-analyze security ($bridge bridge): exposure $bscore (at most $BRIDGE_MAX_EXPOSURE)"
    awk -v s="$bscore" -v m="$BRIDGE_MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || bad "$bridge bridge exposure $bscore > $BRIDGE_MAX_EXPOSURE"
  fi
done

# The TPM counter's drop-in: installed as an example only (the unit itself allows no TPM node);
# enabled under /etc it verifies, allows /dev/tpmrm0 and runs the daemon with --counter tpm:….
grep -q '^DeviceAllow=.*tpm' "$D$unit" && bad "the unit allows a TPM node without the TPM counter configured"
dropin=/usr/share/doc/hems/hems.service.d/tpm.conf
if [ -f "$D$dropin" ]; then
  if grep -n '@[A-Z_]*@' "$D$dropin"; then bad "unreplaced @VAR@ in the installed drop-in"; fi
  grep -qx 'DeviceAllow=/dev/tpmrm0 rw' "$D$dropin" || bad "the TPM drop-in does not allow /dev/tpmrm0"
  grep -q '^ExecStart=/usr/bin/hems run .*--counter tpm:0x' "$D$dropin" || bad "the TPM drop-in's ExecStart has no --counter tpm:"
  mkdir -p "$D/etc/systemd/system/hems.service.d"
  cp "$D$dropin" "$D/etc/systemd/system/hems.service.d/tpm.conf"
  if ! out=$(MANPATH="$D/usr/share/man" systemd-analyze verify --root="$D" "$unit" 2>&1) || [ -n "$out" ]; then
    bad "systemd-analyze verify with the TPM drop-in:"
    echo "$out"
  fi
  rm -r "$D/etc/systemd/system/hems.service.d"
else
  bad "$dropin not installed"
fi

[ "$fail" = 0 ] && echo "test_unit: ok"
exit "$fail"
