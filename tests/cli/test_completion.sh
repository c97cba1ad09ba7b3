#!/usr/bin/env bash
# The bash completion offers every subcommand the binary lists and each subcommand's options
# as its --help names them; run by CTest with HEMS_BIN and the completion script's path.
set -euo pipefail
script="$1"
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
ln -s "$HEMS_BIN" "$dir/hems"
PATH="$dir:$PATH"
source "$script"
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _hems; printf '%s\n' "${COMPREPLY[@]}"; }
fail=0
cmds=$(hems --help | sed -n '/^commands:/,/^$/{s/^  \([a-z][a-z-]*\) .*/\1/p}')
[ "$(echo "$cmds" | wc -l)" -ge 15 ] || { echo "only $(echo "$cmds" | wc -l) commands parsed from hems --help"; exit 1; }
offered=$(complete_words hems "")
for c in $cmds; do grep -qx "$c" <<<"$offered" || { echo "subcommand $c not offered"; fail=1; }; done
# a prefix narrows: "ti" → timeline only
[ "$(complete_words hems ti)" = "timeline" ] || { echo "'hems ti' completes to '$(complete_words hems ti)'"; fail=1; }
# options of a subcommand come from its --help
grep -qx -- "--since" <<<"$(complete_words hems timeline --s)" || { echo "--since not offered for timeline"; fail=1; }
grep -qx "jsonl" <<<"$(complete_words hems timeline --format j)" || { echo "jsonl not offered after --format"; fail=1; }
# checkpoint (the transparency-log checkpoint of a seal) and its --at
grep -qx "checkpoint" <<<"$(complete_words hems che)" || { echo "checkpoint not offered for 'hems che'"; fail=1; }
grep -qx -- "--at" <<<"$(complete_words hems checkpoint --a)" || { echo "--at not offered for checkpoint"; fail=1; }
# witness (the cosigner) and its --verifier, which takes a file
grep -qx "witness" <<<"$(complete_words hems wi)" || { echo "witness not offered for 'hems wi'"; fail=1; }
grep -qx -- "--verifier" <<<"$(complete_words hems witness --v)" || { echo "--verifier not offered for witness"; fail=1; }
# --signer (the key in a PKCS#11 token) on the commands that sign, and its two kinds
grep -qx -- "--signer" <<<"$(complete_words hems run --si)" || { echo "--signer not offered for run"; fail=1; }
grep -qx "pkcs11:" <<<"$(complete_words hems init --signer p)" || { echo "pkcs11: not offered after --signer"; fail=1; }
# the TPM counter: --tcti on init and run, its values, and tpm: after --counter
for c in init run; do grep -qx -- "--tcti" <<<"$(complete_words hems $c --t)" || { echo "--tcti not offered for $c"; fail=1; }; done
grep -qx "device:/dev/tpmrm0" <<<"$(complete_words hems run --tcti d)" || { echo "device:/dev/tpmrm0 not offered after --tcti"; fail=1; }
grep -qx "tpm:0x01500000" <<<"$(complete_words hems init --counter tp)" || { echo "tpm:0x01500000 not offered after --counter"; fail=1; }
# calibrate (a branch CT's gain from a known load) and its --reference-w
grep -qx "calibrate" <<<"$(complete_words hems cal)" || { echo "calibrate not offered for 'hems cal'"; fail=1; }
grep -qx -- "--reference-w" <<<"$(complete_words hems calibrate --r)" || { echo "--reference-w not offered for calibrate"; fail=1; }
grep -qx "ship" <<<"$(complete_words hems sh)" || { echo "ship not offered for 'hems sh'"; fail=1; }
grep -qx -- "--broker" <<<"$(complete_words hems ship --b)" || { echo "--broker not offered for ship"; fail=1; }
grep -qx -- "--state" <<<"$(complete_words hems ship --st)" || { echo "--state not offered for ship"; fail=1; }
[ $fail = 0 ] && echo "completion: $(echo "$cmds" | wc -l) subcommands offered"
exit $fail
