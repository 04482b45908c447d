#!/usr/bin/env python3
"""Policy size: `warden check` and wardend's reload against the number of rules (SPEC section 10:
20,000 rules in <= 1 s, time linear in the number of rules).

    bench/policy_size.py [--build DIR] [--rounds N] [--against BUILD]

Writes policies of 1k, 2k, 5k, 10k and 20k rules of mixed kinds (addresses and blocks, v4 and
v6, ports and port ranges, host names and domains, scopes, protocols, both directions; a few
rules repeated so that the shadow lint has something to say) in three layouts: all in ONE
profile; spread over profiles of 10 rules (10 profiles a file); one rule a profile (100
profiles a file). Profiles match by exact path, glob, cmdline, or path and cmdline. Times the
real `warden check` (wall and CPU, the median of the rounds) and bench/tools/reload_time
(what wardend does on a reload between the signal and the new snapshot: load with warnings,
store the revision in SQLite, compile), and prints time per rule and the ratio 20k / 1k:
about 20 when linear, about 400 when quadratic. `--against BUILD` also times that build's
`warden check` (an earlier commit's, say), and its reload_time if it has one, in the same
rounds. bench/run runs this too and keeps the figures in bench/results/latest.json.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
SIZES = (1000, 2000, 5000, 10000, 20000)
# Rules in one profile; in profiles of 10 (10 profiles a file); one rule a profile (100 a file).
LAYOUTS = {"one profile": (None, None), "profiles of 10": (10, 10), "profiles of 1": (1, 100)}


def rule(i):
    """Rule i of a policy: six kinds in turn, every 50th from rule 500 on a repeat of the
    rule 500 before it (so shadowed: a warning)."""
    if i >= 500 and i % 50 == 49:
        return rule(i - 500)
    action = ("allow", "deny", "reject")[i % 3]
    kind = i % 6
    if kind == 0:
        body = (f'proto = "tcp"\nip = "10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"\n'
                f'ports = {1 + i % 65535}\n')
    elif kind == 1:
        body = (f'proto = "udp"\nip = ["192.0.{i % 256}.0/24", "2001:db8:{i % 65536:x}::/48"]\n'
                f'ports = ["{1000 + i % 5000}-{1010 + i % 5000}", {20000 + i % 40000}]\n')
    elif kind == 2:
        body = f'host = "*.d{i}.example.org"\nports = 443\n'
    elif kind == 3:
        body = f'host = "h{i}.example.net"\nproto = "tcp"\n'
    elif kind == 4:
        scope = ("lan", "internet")[i % 2]
        body = f'scope = "{scope}"\nproto = "tcp"\nports = {1 + i * 7 % 65535}\n'
    else:
        body = (f'direction = "in"\nproto = "tcp"\nports = {1 + i * 13 % 65535}\n'
                f'ip = "198.51.100.{i % 256}"\n')
    return f'action = "{action}"\n{body}'


def match(p):
    slot = p % 20
    if slot < 12:
        return f'path = "/usr/bin/tool{p}"\n'
    if slot < 17:
        return f'path_glob = "/opt/vendor{p}/bin/*"\n'
    if slot < 19:
        return f'cmdline = "--service=svc{p}( |$)"\n'
    return f'path = "/usr/bin/python3"\ncmdline = "/srv/app{p}\\\\.py"\n'


def write_policy(directory, rules, layout):
    """A policy of `rules` rules in `layout`; returns its warden.toml."""
    profiles_dir = directory / "profiles.d"
    profiles_dir.mkdir(parents=True)
    config = directory / "warden.toml"
    config.write_text('[profiles]\ndir = "profiles.d"\n')
    per_profile, per_file = LAYOUTS[layout]
    if per_profile is None:
        (profiles_dir / "large.toml").write_text(
            'name = "large"\ndefault = "deny"\n[[match]]\npath = "/usr/bin/large"\n' +
            "".join(f"[[rule]]\n{rule(i)}" for i in range(rules)))
    else:
        profiles = rules // per_profile
        for first in range(0, profiles, per_file):
            text = []
            for p in range(first, min(profiles, first + per_file)):
                text.append(f'[[profile]]\nname = "p{p}"\ndefault = "deny"\n'
                            f'[[profile.match]]\n{match(p)}')
                text += [f"[[profile.rule]]\n{rule(p * per_profile + r)}"
                         for r in range(per_profile)]
            (profiles_dir / f"{first:05d}.toml").write_text("".join(text))
    for path in [config, *profiles_dir.iterdir()]:
        path.chmod(0o600)
    return config


def time_check(warden, config):
    """(wall seconds, CPU seconds, stdout) of one `warden check`."""
    start = time.perf_counter()
    p = subprocess.Popen([str(warden), "check", "--config", str(config)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{warden} check --config {config}: exit {p.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, out.strip()


def measure(build, rounds, against=None, sizes=SIZES):
    """Every size and layout, `rounds` times each, the variants interleaved."""
    work = Path(tempfile.mkdtemp(prefix="warden-policy-size-"))
    variants = {"warden": Path(build)}
    if against:
        variants["before"] = Path(against)
    results = {}
    try:
        for layout in LAYOUTS:
            for n in sizes:
                directory = work / f"{layout.replace(' ', '-')}-{n}"
                config = write_policy(directory, n, layout)
                entry = {}
                for name, variant in variants.items():
                    checks = [time_check(variant / "cli/warden", config) for _ in range(rounds)]
                    entry[f"{name}_check_wall_s"] = statistics.median(c[0] for c in checks)
                    entry[f"{name}_check_cpu_s"] = statistics.median(c[1] for c in checks)
                    entry[f"{name}_check_output"] = checks[-1][2]
                for name, variant in variants.items():
                    tool = variant / "bench/tools/reload_time"
                    if not tool.is_file():
                        continue  # an --against build from before the tool
                    prefix = "" if name == "warden" else f"{name}_"
                    out = subprocess.run([str(tool), str(config), str(directory / f"{name}.db"),
                                          str(rounds)], check=True, capture_output=True,
                                         text=True, timeout=1800)
                    reload = json.loads(out.stdout)
                    entry[f"{prefix}reload_s"] = statistics.median(reload["seconds"])
                    if "cpu_seconds" in reload:
                        entry[f"{prefix}reload_cpu_s"] = statistics.median(reload["cpu_seconds"])
                    for step in ("load", "record", "compile"):
                        entry[f"{prefix}reload_{step}_s"] = statistics.median(reload[step])
                    entry[f"{prefix}reload_warnings"] = reload["warnings"]
                results.setdefault(layout, {})[str(n)] = entry
                shutil.rmtree(directory)
                print(f"policy size: {layout}, {n} rules: "
                      f"check {entry['warden_check_wall_s']:.3f} s "
                      f"(CPU {entry['warden_check_cpu_s']:.3f} s), reload {entry['reload_s']:.3f} s"
                      + (f"; before: check {entry['before_check_wall_s']:.3f} s"
                         if against else "")
                      + (f", reload {entry['before_reload_s']:.3f} s"
                         if "before_reload_s" in entry else ""), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def rows(results):
    """bench/run's table rows (metric, measured, target, met): per layout, the largest
    policy's times and the ratios largest / smallest (CPU time for `warden check`, the less
    noisy figure on a shared machine)."""
    out = []
    for layout, by_size in results.items():
        sizes = sorted(map(int, by_size))
        first, last = by_size[str(sizes[0])], by_size[str(sizes[-1])]
        span = f"{sizes[-1] // 1000}k/{sizes[0] // 1000}k"
        for name, label in (("warden", "warden check"), ("before", "  warden check, --against")):
            if f"{name}_check_wall_s" not in last:
                continue
            wall = last[f"{name}_check_wall_s"]
            ratio = last[f"{name}_check_cpu_s"] / max(first[f"{name}_check_cpu_s"], 1e-3)
            out.append((f"{label}, {sizes[-1]} rules, {layout} (s; CPU {span})",
                        f"{wall:.2f}; {ratio:.0f}", "<= 1 s" if name == "warden" else "",
                        wall <= 1.0 if name == "warden" else None))
        for key, label in (("reload_s", "reload's policy half"),
                           ("before_reload_s", "  reload's policy half, --against")):
            if key not in last:
                continue
            reload = last[key]
            mine = key == "reload_s"
            out.append((f"{label}, {sizes[-1]} rules, {layout} (s; {span})",
                        f"{reload:.3f}; {reload / max(first[key], 1e-4):.0f}",
                        "<= 1 s" if mine else "", reload <= 1.0 if mine else None))
    return out


def print_table(results):
    for layout, by_size in results.items():
        sizes = sorted(map(int, by_size))
        has_before = "before_check_wall_s" in by_size[str(sizes[0])]
        print(f"\n{layout}:")
        header = f"{'rules':>6}  {'check s':>8}  {'CPU s':>7}  {'us/rule':>8}  {'reload s':>8}  " \
                 f"{'CPU s':>7}  {'us/rule':>8}" + (f"  {'before s':>8}  {'CPU s':>7}  {'reload s':>8}"
                                      if has_before else "")
        print(header)
        for n in sizes:
            e = by_size[str(n)]
            line = (f"{n:>6}  {e['warden_check_wall_s']:>8.3f}  {e['warden_check_cpu_s']:>7.3f}  "
                    f"{e['warden_check_wall_s'] / n * 1e6:>8.1f}  {e['reload_s']:>8.3f}  "
                    f"{e.get('reload_cpu_s', float('nan')):>7.3f}  {e['reload_s'] / n * 1e6:>8.1f}")
            if has_before:
                line += (f"  {e['before_check_wall_s']:>8.3f}  {e['before_check_cpu_s']:>7.3f}"
                         f"  {e.get('before_reload_s', float('nan')):>8.3f}")
            print(line)
        first, last = by_size[str(sizes[0])], by_size[str(sizes[-1])]
        scale = sizes[-1] / sizes[0]
        ratio = lambda key: last[key] / max(first[key], 1e-3)
        text = (f"{sizes[-1]} / {sizes[0]} rules (linear {scale:.0f}, "
                f"quadratic {scale ** 2:.0f}): check {ratio('warden_check_wall_s'):.1f} "
                f"(CPU {ratio('warden_check_cpu_s'):.1f}), reload {ratio('reload_s'):.1f}")
        if has_before:
            text += (f"; before: check {ratio('before_check_wall_s'):.1f} "
                     f"(CPU {ratio('before_check_cpu_s'):.1f})")
            if "before_reload_s" in first:
                text += f", reload {ratio('before_reload_s'):.1f}"
        print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, default=TOP / "build-release")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", type=Path, metavar="BUILD",
                    help="also time BUILD/cli/warden check (a build of another commit)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    for needed in (args.build / "cli/warden", args.build / "bench/tools/reload_time"):
        if not needed.is_file():
            sys.exit(f"policy_size: no {needed} (build it first)")
    results = measure(args.build, args.rounds, args.against)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
