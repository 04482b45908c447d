#!/bin/bash
# The manual pages and the bash completion keep up with the programs: every command and every
# option that the built `warden` and `wardend` list in their --help must be documented in
# man/warden.8.scd / man/wardend.8.scd and offered by completion/warden.bash. The lists come
# from the binaries, so adding an option without documenting it fails here. Likewise every key
# the policy codecs (rules/*_codec.cpp, rules/config.cpp) accept must be in warden.toml(5) or
# warden-profiles(5).
# Usage: docs_test.sh WARDEN_BINARY WARDEND_BINARY SOURCE_DIR
set -u
warden=$1
wardend=$2
source=$3
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The options of a CLI11 --help: the first field of each "  -x,--name ..." line, split at ','.
options_of() {
  "$@" --help | awk '/^  -/ { n = split($1, names, ","); for (i = 1; i <= n; i++) print names[i] }'
}

# The subcommands listed in `warden --help`.
commands_of() {
  "$1" --help | awk '/^Subcommands:/ { on = 1; next } on && /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }'
}

# Text of one "# SECTION" or "## subsection" of an scdoc file: from its heading to the next
# heading of any level.
section() {
  awk -v heading="$2" '$0 == heading { on = 1; next } on && /^#/ { on = 0 } on' "$1"
}

# What the completion function offers for the given words (the last one is being completed).
complete_words() {
  local function=$1
  shift
  bash -c 'source "$1"; shift; function=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
           "$function"; printf "%s\n" "${COMPREPLY[@]}"' \
    bash "$source/completion/warden.bash" "$function" "$@"
}

# offers LIST_OF_WORDS WORD: whether WORD is one of the lines.
offers() { printf '%s\n' "$1" | grep -qxF -- "$2"; }

warden_page=$source/man/warden.8.scd
wardend_page=$source/man/wardend.8.scd
commands=$(commands_of "$warden")
[ -n "$commands" ] || fail "no commands found in '$warden --help'"

global_options=$(options_of "$warden")
[ -n "$global_options" ] || fail "no options found in '$warden --help'"
global_section=$(section "$warden_page" "# OPTIONS")
offered=$(complete_words _warden warden -)
for option in $global_options; do
  printf '%s\n' "$global_section" | grep -qF -- "*$option*" ||
    fail "warden $option: not in the OPTIONS section of man/warden.8.scd"
  offers "$offered" "$option" || fail "warden $option: not offered by the completion"
done

offered_commands=$(complete_words _warden warden "")
for command in $commands; do
  grep -qx "## $command" "$warden_page" ||
    fail "warden $command: no '## $command' section in man/warden.8.scd"
  offers "$offered_commands" "$command" || fail "warden $command: not offered by the completion"
  command_section=$(section "$warden_page" "## $command")
  offered=$(complete_words _warden warden "$command" -)
  options=$(options_of "$warden" "$command")
  [ -n "$options" ] || fail "no options found in '$warden $command --help'"
  for option in $options; do
    printf '%s\n%s\n' "$command_section" "$global_section" | grep -qF -- "*$option*" ||
      fail "warden $command $option: neither in '## $command' nor in OPTIONS of man/warden.8.scd"
    offers "$offered" "$option" || fail "warden $command $option: not offered by the completion"
  done
done

wardend_options=$(options_of "$wardend")
[ -n "$wardend_options" ] || fail "no options found in '$wardend --help'"
wardend_section=$(section "$wardend_page" "# OPTIONS")
offered=$(complete_words _wardend wardend -)
for option in $wardend_options; do
  printf '%s\n' "$wardend_section" | grep -qF -- "*$option*" ||
    fail "wardend $option: not in the OPTIONS section of man/wardend.8.scd"
  offers "$offered" "$option" || fail "wardend $option: not offered by the completion"
done

# The keys of the policy files, from the codecs' lists of known keys (every key the parser
# accepts is in one: anything else is refused as unknown), documented in the right section.
# known_keys FILE: one line per rejectUnknownKeys call, its keys then its "[section]" if any.
known_keys() {
  tr '\n' ' ' < "$1" | grep -o 'rejectUnknownKeys([^;]*;' | grep -v 'initializer_list' |
    while IFS= read -r call; do
      printf '%s\n' "$call" | grep -o '"[^"]*"' | tr -d '"' | xargs
    done
}

# check_keys SOURCE PAGE HEADING: every key SOURCE's calls know is in PAGE under HEADING, or,
# for a call that names its section ("[engine]"), under "# [engine]".
check_keys() {
  local source_file=$source/$1 page=$source/man/$2 heading=$3 line key keys text where
  local found=0
  while IFS= read -r line; do
    where=$heading
    keys=""
    for key in $line; do
      case $key in
        \[*) where="# $key" ;;
        *) keys="$keys $key" ;;
      esac
    done
    # scdoc needs '_' escaped in bold text (path\_glob); the reader sees path_glob.
    text=$(section "$page" "$where" | sed 's/\\_/_/g')
    [ -n "$text" ] || fail "man/$2 has no section '$where'"
    for key in $keys; do
      found=$((found + 1))
      printf '%s\n' "$text" | grep -qF -- "*$key*" ||
        fail "key '$key' ($1): not documented under '$where' in man/$2"
    done
  done < <(known_keys "$source_file")
  [ "$found" -gt 0 ] || fail "no known keys found in $1 (has rejectUnknownKeys changed?)"
}

check_keys rules/config.cpp warden.toml.5.scd ""
check_keys rules/profile_codec.cpp warden-profiles.5.scd "# PROFILE KEYS"
check_keys rules/match_codec.cpp warden-profiles.5.scd "# MATCH KEYS"
check_keys rules/rule_codec.cpp warden-profiles.5.scd "# RULE KEYS"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s): document the option or key in man/*.scd (options also in"
  echo "completion/warden.bash)"
  exit 1
fi
echo "ok: $(printf "%s\n" "$commands" | grep -c .) commands and their options documented and completed;"
echo "    the keys of warden.toml and of the profiles documented"
