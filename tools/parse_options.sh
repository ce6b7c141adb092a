#!/usr/bin/env bash
# Kaldi-style option parsing, sourced after the options' defaults are declared:
#   stage=0; nj=4
#   . tools/parse_options.sh || exit 1
# turns "--stage 3 --train-config conf/x.yaml" into stage=3 train_config=conf/x.yaml.
# Dashes in names become underscores. An option that was not declared is an error, so a
# typo is never silently ignored. "--help" prints $help_message. "--config FILE" sources
# FILE (lines "name=value") first. Positional arguments are left in "$@"; "--" ends the options,
# so what follows it stays in "$@" even when it starts with "--".
# A recipe's run.sh that hands the options it does not declare to the shared stages sets
# parse_options_passthrough=true first: those options (and --help) are then collected, in order,
# in the array passthrough_opts instead of being an error.
[ "${parse_options_passthrough:-false}" != true ] || passthrough_opts=()

while true; do
  [ -z "${1:-}" ] && break
  case "$1" in
    --help|-h)
      if [ "${parse_options_passthrough:-false}" = true ]; then passthrough_opts+=("$1"); shift; continue; fi
      if [ -z "${help_message:-}" ]; then echo "No help found." >&2; else printf "%s\n" "$help_message" >&2; fi
      exit 0 ;;
    --config)
      [ $# -ge 2 ] || { echo "$0: --config needs a file" >&2; exit 1; }
      # shellcheck disable=SC1090
      . "$2" || exit 1
      shift 2 ;;
    --)   # the rest are positional arguments, whatever they look like
      shift; break ;;
    --*=*)
      echo "$0: write options as '--name value', not '$1'" >&2; exit 1 ;;
    --*)
      name=$(echo "$1" | sed -e 's/^--//' -e 's/-/_/g')
      if ! [[ "${name}" =~ ^[a-zA-Z_][a-zA-Z0-9_]*$ ]]; then
        echo "$0: invalid option name '$1'" >&2; exit 1
      fi
      if [ -z "${!name+set}" ] && [ "${parse_options_passthrough:-false}" = true ]; then
        [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
        passthrough_opts+=("$1" "$2")
        shift 2; continue
      fi
      if [ -z "${!name+set}" ]; then
        echo "$0: unknown option $1 (declared options are the variables set before parse_options.sh)" >&2
        exit 1
      fi
      [ $# -ge 2 ] || { echo "$0: option $1 needs a value" >&2; exit 1; }
      old=${!name}
      printf -v "${name}" '%s' "$2"
      # booleans stay booleans
      if [ "${old}" = "true" ] || [ "${old}" = "false" ]; then
        if [ "$2" != "true" ] && [ "$2" != "false" ]; then
          echo "$0: option $1 takes true or false, got '$2'" >&2; exit 1
        fi
      fi
      shift 2 ;;
    *) break ;;
  esac
done
true
