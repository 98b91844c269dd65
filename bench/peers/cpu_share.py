#!/usr/bin/env python3
"""Where the CPU goes while a load runs: the server's process tree, the load client and
everything else on the machine, as CPU-seconds and as a share of the run's wall time
(100 % = one core busy for the whole run).

  python3 cpu_share.py --server-pid PID [--interval 0.5] -- python3 lean_load.py pop3 ...

The server is PID and all its descendants: each live process's own time plus, for
processes already gone, what their parents collected when reaping them (cutime/cstime);
so Dovecot's process per session counts too. The client is the command run after `--`,
with every child it waited for (wait4 rusage). "other" is what /proc/stat counted busy
on the machine beyond those two (other users' work). The busiest sample of the server
tree, and of its main thread alone (our event loop; Dovecot's master, which does little),
tells whether one loop sat at a full core (a ceiling) or not. The main thread's context
switches (voluntary: it slept with nothing to do; involuntary: preempted) come last: on this
VM each sleep and wake-up of our event loop costs CPU, so its CPU per operation follows how
often it sleeps (docs/performance.md, "POP3 RETR: why bench:peers and ab_pop3 differ").
The command's own output is passed through; the accounting goes to stderr.
"""
import argparse
import os
import resource
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(ppid, own ticks, reaped children's ticks) of a process, or None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ")".
    fields = data[data.rindex(b")") + 2:].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return ppid, utime + stime, cutime + cstime


def thread_ticks(pid):
    """CPU ticks of a process's main thread alone (our event loop), 0 when gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def thread_switches(pid):
    """(voluntary, involuntary) context switches of a process's main thread, (0, 0) when gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/status") as f:
            text = f.read()
    except OSError:
        return 0, 0
    counts = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
            counts[key] = int(value)
    return counts.get("voluntary_ctxt_switches", 0), counts.get("nonvoluntary_ctxt_switches", 0)


def tree_ticks(root):
    """CPU ticks of `root` and its descendants, reaped ones included."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = proc_stat(int(name))
            if s:
                stats[int(name)] = s
    children = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid not in stats:
            continue
        _, own, reaped = stats[pid]
        total += own + reaped
        todo.extend(children.get(pid, []))
    return total


def machine_ticks():
    """(busy, total) ticks over all CPUs (iowait counts as idle)."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])  # guest time is already inside user
    return total - idle, total


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--label", default="")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        sys.exit("cpu_share: no command to run")
    ncpu = os.cpu_count() or 1
    s0, (b0, t0), w0 = tree_ticks(args.server_pid), machine_ticks(), time.perf_counter()
    m0 = thread_ticks(args.server_pid)
    sw0 = thread_switches(args.server_pid)
    child = subprocess.Popen(cmd)
    peak, prev, prev_t = 0.0, s0, w0
    main_peak, main_prev = 0.0, m0
    while True:
        try:
            child.wait(timeout=args.interval)
            break
        except subprocess.TimeoutExpired:
            pass
        now, t = tree_ticks(args.server_pid), time.perf_counter()
        main_now = thread_ticks(args.server_pid)
        peak = max(peak, (now - prev) / TICK / (t - prev_t))
        main_peak = max(main_peak, (main_now - main_prev) / TICK / (t - prev_t))
        prev, prev_t, main_prev = now, t, main_now
    wall = time.perf_counter() - w0
    s1, (b1, t1) = tree_ticks(args.server_pid), machine_ticks()
    main = (thread_ticks(args.server_pid) - m0) / TICK
    sw1 = thread_switches(args.server_pid)
    # Popen reaped the command: its time (and its waited-for children's) is ours now.
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = ru.ru_utime + ru.ru_stime
    server = (s1 - s0) / TICK
    busy = (b1 - b0) / TICK
    capacity = (t1 - t0) / TICK  # = wall x CPUs
    other = max(0.0, busy - server - client)
    idle = max(0.0, capacity - busy)
    pct = lambda x: f"{100 * x / wall:5.0f} %"  # noqa: E731
    print(f"cpu_share {args.label}: wall {wall:.2f} s on {ncpu} CPUs; "
          f"server {server:.2f} s ({pct(server)}, busiest {args.interval} s sample "
          f"{100 * peak:.0f} %; its main thread {main:.2f} s, busiest {100 * main_peak:.0f} %), client {client:.2f} s ({pct(client)}), "
          f"other {other:.2f} s ({pct(other)}), idle {idle:.2f} s ({pct(idle)}); "
          f"load {os.getloadavg()[0]:.2f}; main thread switches: voluntary {sw1[0] - sw0[0]}, "
          f"involuntary {sw1[1] - sw0[1]}", file=sys.stderr)
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
