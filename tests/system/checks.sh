# shellcheck shell=bash
# The checks of tests/system/run, in the order an administrator meets them. Sourced by it: ct
# runs a command in the booted container, $debname is the package copied to /root there.
# Each check_* function prints why it failed (on stdout) and returns non-zero.

failed=0
total=0
# check NAME FUNCTION: one line per check; the failure's explanation indented below it.
check() {
  local name=$1 out
  shift
  total=$((total + 1))
  if out=$("$@" 2>&1); then
    printf 'ok    %s\n' "$name"
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/      /'
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    printf '%s\n' "${out:-(no output)}" | tail -12 | sed 's/^/      /'
  fi
  return 0
}

# A command in a cgroup of the container (under its cgroup2 root, where wardend's eBPF hooks
# are), like any program started there; nsenter alone leaves it in the host's cgroup. Not
# `systemd-run --wait --pipe`: that needs D-Bus, which does not come up in the container.
ct_run() {
  ct sh -c 'for d in /sys/fs/cgroup/unified /sys/fs/cgroup; do
      [ -e "$d/cgroup.procs" ] && break
    done
    mkdir -p "$d/system-test" && echo $$ >"$d/system-test/cgroup.procs" && exec "$@"' sh "$@"
}
revision() { ct warden status 2>/dev/null | sed -n 's/^policy *revision \([0-9]*\),.*/\1/p'; }
wait_active() {
  local state
  for _ in $(seq 50); do
    state=$(ct systemctl is-active warden)
    [ "$state" = active ] && return 0
    sleep 0.2
  done
  echo "warden.service is $state"
  ct systemctl status warden --no-pager -n 15
  return 1
}
table_present() { ct nft list tables | grep -qx 'table inet warden'; }

check_install() {
  CT_TIMEOUT=180 ct env DEBIAN_FRONTEND=noninteractive \
    apt install -y "/root/$debname" >"$work/apt.log" 2>&1 ||
    { tail -15 "$work/apt.log"; return 1; }
  ct dpkg-query -W -f='${Version} ${db:Status-Status}\n' warden
}

# Where Debian puts things: programs stripped, the unit in /lib/systemd/system, configuration
# as conffiles naming the system paths.
check_files() {
  local files conffiles path
  files=$(ct dpkg -L warden)
  for path in /usr/sbin/wardend /usr/bin/warden /lib/systemd/system/warden.service \
    /usr/share/doc/warden/copyright /usr/share/doc/warden/changelog.gz; do
    grep -qx "$path" <<<"$files" || { echo "not in the package: $path"; return 1; }
  done
  conffiles=$(ct dpkg-query -W -f='${Conffiles}\n' warden | awk 'NF { print $1 }')
  for path in /etc/warden/warden.toml /etc/warden/profiles.d/30-ssh.toml; do
    grep -qx "$path" <<<"$conffiles" || { echo "not a conffile: $path"; return 1; }
  done
  for path in /usr/sbin/wardend /usr/bin/warden; do
    if readelf -S "$work/root$path" | grep -q '\.debug_info'; then
      echo "$path is not stripped"
      return 1
    fi
  done
  for path in /var/lib/warden/warden.db /run/warden/control.sock /etc/warden/profiles.d; do
    ct grep -q "\"$path\"" /etc/warden/warden.toml || { echo "warden.toml lacks $path"; return 1; }
  done
  echo "$(grep -c . <<<"$conffiles") conffiles; wardend $(stat -c %s "$work/root/usr/sbin/wardend") bytes"
}

check_enabled_and_started() {
  [ "$(ct systemctl is-enabled warden)" = enabled ] || { echo "not enabled"; return 1; }
  wait_active
}

check_start() {
  ct systemctl restart warden || return 1
  wait_active || return 1
  ct systemctl show warden -p MainPID -p Type --value | paste -sd' ' | sed 's/^/MainPID, Type: /'
}

check_table() {
  table_present || { ct nft list tables; return 1; }
}

check_status() {
  local out
  out=$(ct warden status) || { echo "$out"; return 1; }
  grep -q '^wardend *running' <<<"$out" || { echo "$out"; return 1; }
  # eBPF attribution, or the reason it is not used: either way the status says which.
  grep -E '^attribution|eBPF not used' <<<"$out"
  grep -qE 'attribution *ebpf|eBPF not used' <<<"$out" || { echo "$out"; return 1; }
}

check_ssh() {
  # The machine's own sshd, reached at a non-loopback address by the ssh client: out through
  # the ssh profile, in through the sshd profile. No key: authentication is refused, after the
  # whole key exchange worked.
  local out
  out=$(ct_run ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 nobody@192.0.2.1 true 2>&1)
  grep -q 'Permission denied' <<<"$out" || { echo "$out"; return 1; }
}

# The machine's address: 192.0.2.1 on one end of a veth pair whose both ends stay in the
# container (no network leaves it), an "internet" address for warden's scopes, unlike loopback,
# which the shipped policy allows whole.
add_address() {
  ct ip link add wsys0 type veth peer name wsys1 &&
    ct ip link set wsys1 up &&
    ct ip addr add 192.0.2.1/24 dev wsys0 &&
    ct ip link set wsys0 up
}

# A web server on 192.0.2.1, ports 80 and 8080. The shipped curl profile allows 80 and denies
# everything else.
start_web() {
  local reply='while IFS= read -r l; do case "$l" in ""|"$(printf "\r")") break;; esac; done
printf "HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"'
  ct systemd-run --quiet --unit=wsys-web --collect /usr/bin/systemd-socket-activate --accept \
    --inetd -l 192.0.2.1:80 -l 192.0.2.1:8080 /bin/sh -c "$reply" || return 1
  for _ in $(seq 50); do
    ct ss -Hltn | grep -q '192.0.2.1:8080' && return 0
    sleep 0.1
  done
  echo "the web server did not start"
  return 1
}

check_flows() {
  local out
  out=$(ct_run curl -sS --max-time 5 http://192.0.2.1/ 2>&1)
  [ "$out" = hello ] || { echo "curl to port 80 (allowed): $out"; return 1; }
  if out=$(ct_run curl -sS --max-time 3 http://192.0.2.1:8080/ 2>&1); then
    echo "curl to port 8080 got through against the curl profile: $out"
    return 1
  fi
  echo "curl to port 8080: $out"
  for _ in $(seq 30); do
    out=$(ct warden log --profile curl --limit 20)
    grep -qE '^\S+ \S+ +deny +out +tcp +192\.0\.2\.1:8080 ' <<<"$out" &&
      grep -qE '^\S+ \S+ +allow +out +tcp +192\.0\.2\.1:80 ' <<<"$out" && break
    sleep 0.2
  done
  grep -E '192\.0\.2\.1:(80|8080) ' <<<"$out" | head -2 | cut -c1-110
  grep -qE ' deny +out +tcp +192\.0\.2\.1:8080 ' <<<"$out" || { echo "$out"; return 1; }
}

# wardend runs in the container's pid namespace: the log names a process by the pid the
# container knows it by, not by the host's (a host number could name another process there).
check_log_pid() {
  local pid out
  pid=$(ct_run sh -c 'echo $$; exec curl -sS --max-time 3 http://192.0.2.1:8080/ 2>/dev/null' |
    head -1)
  [ -n "$pid" ] || { echo "no pid from the client"; return 1; }
  for _ in $(seq 30); do
    out=$(ct warden log --profile curl --action deny --limit 5 --json)
    grep -q "\"pid\":$pid[,}]" <<<"$out" && break
    sleep 0.2
  done
  echo "client pid $pid in the container; the log: $(grep -o '"pid":[0-9]*' <<<"$out" | head -3 | tr '\n' ' ')"
  grep -q "\"pid\":$pid[,}]" <<<"$out"
}

check_reload_refused() {
  local before after status
  before=$(revision)
  [ -n "$before" ] || { echo "no policy revision in warden status"; return 1; }
  printf 'name = "broken"\n[[rule]]\naction = "perhaps"\n' |
    ct sh -c 'cat >/etc/warden/profiles.d/99-broken.toml'
  ct systemctl reload warden
  status=$?
  after=$(revision)
  echo "systemctl reload: exit $status; revision $before before, ${after:-none} after"
  [ "$status" -ne 0 ] || return 1
  [ "$after" = "$before" ] || return 1
  [ "$(ct systemctl is-active warden)" = active ] || { echo "warden is no longer active"; return 1; }
}

check_journal_refusal() {
  local out
  out=$(ct journalctl -u warden -p err --no-pager -o cat)
  grep -m2 '99-broken.toml' <<<"$out" || { echo "journalctl -u warden -p err: ${out:-nothing}"; return 1; }
}

check_reload_fixed() {
  ct rm -f /etc/warden/profiles.d/99-broken.toml
  ct systemctl reload warden || return 1
  wait_active
}

# With a drop-in that makes the watchdog short; the drop-in goes again whatever happened.
check_watchdog() {
  local result
  ct mkdir -p /etc/systemd/system/warden.service.d
  printf '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\n' |
    ct sh -c 'cat >/etc/systemd/system/warden.service.d/50-system-test.conf'
  ct systemctl daemon-reload
  watchdog_restarts
  result=$?
  ct rm -rf /etc/systemd/system/warden.service.d
  ct systemctl daemon-reload
  ct systemctl restart warden
  [ "$result" -eq 0 ] && wait_active
}

watchdog_restarts() {
  local pid restarts new
  ct systemctl restart warden && wait_active || return 1
  pid=$(ct systemctl show warden -p MainPID --value)
  restarts=$(ct systemctl show warden -p NRestarts --value)
  # A live daemon keeps the watchdog fed: the same process after three watchdog periods.
  sleep 6
  new=$(ct systemctl show warden -p MainPID --value)
  [ "$new" = "$pid" ] || { echo "wardend was restarted while it was not hung ($pid -> $new)"; return 1; }
  ct kill -STOP "$pid"
  for _ in $(seq 150); do
    new=$(ct systemctl show warden -p MainPID --value)
    [ "$new" != "$pid" ] && [ "$new" != 0 ] && [ "$(ct systemctl is-active warden)" = active ] && break
    sleep 0.2
  done
  echo "MainPID $pid (stopped with SIGSTOP) -> $new," \
    "NRestarts $restarts -> $(ct systemctl show warden -p NRestarts --value)"
  [ "$new" != "$pid" ] && [ "$new" != 0 ]
}

check_security() {
  local out score
  out=$(ct systemd-analyze security warden --no-pager 2>&1)
  score=$(sed -n 's/.*Overall exposure level for warden.service: \([0-9.]*\).*/\1/p' <<<"$out")
  echo "exposure ${score:-unknown} (at most 3.0)"
  [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }'
}

check_stop() {
  table_present || { echo "no table before the stop"; return 1; }
  ct systemctl stop warden || return 1
  if table_present; then
    echo "table inet warden is still there after systemctl stop"
    return 1
  fi
}

check_purge() {
  local left=""
  CT_TIMEOUT=120 ct env DEBIAN_FRONTEND=noninteractive apt purge -y warden >"$work/apt.log" 2>&1 ||
    { tail -15 "$work/apt.log"; return 1; }
  for path in /etc/warden /var/lib/warden /run/warden /lib/systemd/system/warden.service \
    /usr/sbin/wardend /usr/bin/warden /usr/share/doc/warden; do
    ct test -e "$path" && left+=" $path"
  done
  left+=$(ct find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled \
    /var/lib/systemd/deb-systemd-user-helper-enabled -name 'warden*' -printf ' %p' 2>/dev/null)
  table_present && left+=" table inet warden"
  ct dpkg-query -W -f='${db:Status-Status}' warden 2>/dev/null | grep -qv not-installed &&
    left+=" (dpkg still knows warden)"
  [ -z "$left" ] || { echo "left behind:$left"; return 1; }
}

run_checks() {
  check "apt install ./$debname" check_install
  check "files where Debian puts them, configuration as conffiles" check_files
  check "enabled and active after install" check_enabled_and_started
  check "systemctl restart warden: active" check_start
  check "nft: table inet warden present" check_table
  check "warden status answers" check_status
  add_address || echo "      (could not add 192.0.2.1 to a veth interface)"
  check "ssh out and into the machine keeps working" check_ssh
  if start_web; then
    check "a flow is decided: curl allowed to :80, denied to :8080, logged" check_flows
    check "the log names the process by its pid in the container" check_log_pid
  else
    check "a flow is decided (web server in the container)" false
  fi
  check "systemctl reload fails on a broken policy, revision kept" check_reload_refused
  check "journalctl -u warden -p err shows the refusal" check_journal_refusal
  check "systemctl reload works again once the policy is fixed" check_reload_fixed
  check "the watchdog restarts a hung wardend (SIGSTOP)" check_watchdog
  check "systemd-analyze security warden <= 3.0" check_security
  ct systemctl restart warden
  check "systemctl stop warden removes the table" check_stop
  check "apt purge warden leaves nothing behind" check_purge
}
