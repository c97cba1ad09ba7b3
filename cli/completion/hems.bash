# bash completion for hems — installed to share/bash-completion/completions/hems.
# Subcommands and options are read from the program's own --help, so the completion never
# drifts from the binary it completes; values: files for paths, the shipped words elsewhere.
_hems()
{
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"
    words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
  fi
  local hems="${words[0]}"
  if [ "$cword" -eq 1 ]; then
    local cmds
    cmds=$("$hems" --help 2>/dev/null | sed -n '/^commands:/,/^$/{s/^  \([a-z][a-z-]*\) .*/\1/p}')
    COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
    return
  fi
  if [ "$cword" -eq 2 ] && [ "${words[1]}" = bridge ]; then
    COMPREPLY=($(compgen -W "mqtt modbus sunspec" -- "$cur")); return
  fi
  case "$prev" in
    --counter)
      COMPREPLY=($(compgen -f -- "$cur") $(compgen -W "tpm:0x01500000" -- "$cur")); compopt -o filenames 2>/dev/null; return ;;
    --tcti)
      COMPREPLY=($(compgen -W "device:/dev/tpmrm0 swtpm:host=127.0.0.1,port=2321" -- "$cur")); return ;;
    --dir|--out|--pubkey|--hw|--config|--comtrade|--socket|--key|--state|--verifier|--witness|--checkpoint|--since-checkpoint|--cafile|--cert|--password-file)
      COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return ;;
    --format)
      COMPREPLY=($(compgen -W "table jsonl json csv text cbor" -- "$cur")); return ;;
    --signer)
      COMPREPLY=($(compgen -W "file pkcs11:" -- "$cur")); compopt -o nospace 2>/dev/null; return ;;
    --type)
      COMPREPLY=($(compgen -W "boot config note window pq_event request command refusal actuation sense_back trip_tap der fault seal key retention witness pq_aggregate rollup copy" -- "$cur")); return ;;
    --sim)
      COMPREPLY=($(compgen -f -- "$cur") $(compgen -W "default full-panel welded-relay reversed-ct sag-and-inrush service-overload grid-outage-transfer" -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    local opts
    opts=$("$hems" "${words[1]}" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u)
    COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _hems hems
