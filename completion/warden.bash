# bash completion for warden(8), the warden firewall's command-line tool.
# Installed as /usr/share/bash-completion/completions/warden. Kept in step with the
# binary by tests/cli/docs_test.sh: every command and option of `warden --help` must be
# offered here.
#
# Plain bash (no helper from the bash-completion package), so that the tests can drive it
# in a bare shell: COMP_WORDS=(warden lo); COMP_CWORD=1; _warden; echo "${COMPREPLY[*]}"

_warden_commands="check status reload profiles rules log explain hash allow deny reject prompt suggest"
_warden_global_options="--config --no-pager --color --help -h --version"

# The options of each command, besides the global ones (which every command takes too).
_warden_command_options() {
  case $1 in
    check | status | profiles | explain | hash) echo "--json" ;;
    rules) echo "--unused --json" ;;
    reload) echo "--redecide --json" ;;
    log) echo "--follow -f --profile --action --since --until --limit -n --json" ;;
    allow | deny | reject)
      echo "--proto --port --host --ip --scope --direction --for --same-file --json"
      ;;
    suggest) echo "--since --profile --out --json" ;;
  esac
}

# Profile names of the policy in force, from `warden profiles --json` (the running daemon's
# revision, or the files). Given a second, so that a slow or stuck tool never hangs the shell.
_warden_profile_names() {
  local warden=$1 config=$2 json
  local -a args=(profiles --json)
  [[ -n $config ]] && args+=(--config "$config")
  json=$(timeout 1 "$warden" "${args[@]}" 2>/dev/null) || return 0
  # "name":"..." appears unescaped only as a key; profile names hold no quotes.
  local pattern='"name":"([^"]*)"'
  while [[ $json =~ $pattern ]]; do
    printf '%s\n' "${BASH_REMATCH[1]}"
    json=${json#*"${BASH_REMATCH[0]}"}
  done
}

# Adds the words of $1 that start with $2 to COMPREPLY.
_warden_add_words() {
  local word
  for word in $1; do
    [[ $word == "$2"* ]] && COMPREPLY+=("$word")
  done
}

# Adds file names (and directories, to descend into) that start with $1.
_warden_add_files() {
  local line
  while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -f -- "$1")
  compopt -o filenames 2>/dev/null
  return 0
}

_warden() {
  COMPREPLY=()
  local cword=$COMP_CWORD
  local cur=${COMP_WORDS[cword]}
  local prev=${COMP_WORDS[cword - 1]}
  # `--option=value`: bash splits at '=' (COMP_WORDBREAKS), giving "--option" "=" "value".
  if [[ $cur == "=" ]]; then
    cur=""
    prev=${COMP_WORDS[cword - 1]}
  elif [[ $prev == "=" ]] && ((cword >= 2)); then
    prev=${COMP_WORDS[cword - 2]}
  fi

  # The command, the configuration named so far, and how many positionals the command has.
  local warden=${COMP_WORDS[0]} command="" config="" positionals=0 i word
  for ((i = 1; i < cword; i++)); do
    word=${COMP_WORDS[i]}
    case $word in
      --config | --color | --profile | --action | --since | --until | --limit | -n | \
        --proto | --port | --host | --ip | --scope | --direction | --for | --same-file | --out)
        if [[ ${COMP_WORDS[i + 1]} == "=" ]]; then ((i++)); fi
        ((i + 1 < cword)) && [[ $word == --config ]] && config=${COMP_WORDS[i + 1]}
        ((i++))
        ;;
      -*) ;;
      *)
        if [[ -z $command ]]; then
          command=$word
        else
          ((positionals++))
        fi
        ;;
    esac
  done

  case $prev in
    --config)
      _warden_add_files "$cur"
      return 0
      ;;
    --color)
      _warden_add_words "auto always never" "$cur"
      return 0
      ;;
    --action)
      _warden_add_words "allow deny reject" "$cur"
      return 0
      ;;
    --profile)
      _warden_add_words "$(_warden_profile_names "$warden" "$config")" "$cur"
      return 0
      ;;
    --since | --until)
      _warden_add_words "today yesterday 10m 1h 1d 1w" "$cur"
      return 0
      ;;
    --limit | -n | --port | --host | --ip)
      return 0
      ;;
    --proto)
      _warden_add_words "tcp udp icmp any" "$cur"
      return 0
      ;;
    --scope)
      _warden_add_words "localhost lan internet" "$cur"
      return 0
      ;;
    --direction)
      _warden_add_words "out in" "$cur"
      return 0
      ;;
    --for)
      _warden_add_words "10m 1h 1d" "$cur"
      return 0
      ;;
    --out)
      local line
      while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -d -- "$cur")
      compopt -o filenames 2>/dev/null
      return 0
      ;;
  esac

  if [[ $cur == -* ]]; then
    _warden_add_words "$_warden_global_options $(_warden_command_options "$command")" "$cur"
    return 0
  fi
  case $command in
    "") _warden_add_words "$_warden_commands" "$cur" ;;
    rules) ((positionals == 0)) && _warden_add_words "$(_warden_profile_names "$warden" "$config")" "$cur" ;;
    explain)
      if ((positionals == 0)); then
        local pid
        for pid in /proc/[0-9]*; do
          pid=${pid#/proc/}
          [[ $pid == "$cur"* ]] && COMPREPLY+=("$pid")
        done
      fi
      ;;
    hash) _warden_add_files "$cur" ;;
    allow | deny | reject)
      if ((positionals == 0)); then
        _warden_add_files "$cur"
        local name
        while IFS= read -r name; do COMPREPLY+=("$name"); done < <(compgen -c -- "$cur")
      fi
      ;;
  esac
  return 0
}

# wardend(8): its few options, and files for --config.
_wardend() {
  COMPREPLY=()
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  if [[ $cur == "=" ]]; then
    cur=""
  elif [[ $prev == "=" ]] && ((COMP_CWORD >= 2)); then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi
  case $prev in
    -c | --config)
      _warden_add_files "$cur"
      return 0
      ;;
  esac
  _warden_add_words "--config -c --check --cleanup --verbose -v --version --help -h" "$cur"
  return 0
}

complete -F _warden warden
complete -F _wardend wardend
