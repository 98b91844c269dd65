#!/usr/bin/env python3
"""Lean POP3/IMAP read loads for bench:peers: the same sessions, commands and checks as
the shared pop3_retr.py and imap_fetch.py, with a client that costs less per command, so
that the servers, not the load generator, set the rate. Same client for both servers.

  python3 lean_load.py pop3 --port 10110 --sessions 4 --rounds 10 --user testuser%d
  python3 lean_load.py imap --port 10143 --sessions 4 --rounds 5 --user testuser3

What differs from the shared scripts (the protocol exchange does not):
- one process per session (os.fork) instead of one thread per session: the shared
  scripts' 4 threads contend for Python's GIL, about 19 futex(2) calls per RETR under
  strace, and the load generator, not the server, became the limit;
- blocking sockets with SO_RCVTIMEO/SO_SNDTIMEO instead of Python's socket timeout,
  which adds a poll(2) before every send and receive;
- replies are received with recv_into() into one preallocated buffer instead of
  recv(262144), which allocates (mmap/mremap/munmap) 256 KiB per call;
- a reply's end is found without splitting it into lines: a POP3 multi-line reply ends
  at the first CRLF "." CRLF (dot-stuffing makes it unique, RFC 1939 §3); an IMAP
  response is walked line by line only through its literal lengths (RFC 3501 §4.3).
Commands stay lock-step, one at a time per session: nothing is pipelined.
Output lines are those of the shared scripts, so bench:peers parses either.
"""
import argparse
import ipaddress
import re
import socket
import sys
import time

from lean_base import Conn, fmt_ms, percentile, run_processes

TERM = b"\r\n.\r\n"
LITERAL = re.compile(rb"\{(\d+)\+?\}$")
SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
FETCH_NUM = re.compile(rb"\* (\d+) FETCH ")  # match() only: anchored there
EXISTS = re.compile(rb"\* (\d+) EXISTS")


# ---------------------------------------------------------------------------------------
# POP3: USER/PASS, LIST, RETR of every message one at a time, QUIT (as pop3_retr.py)


def pop3_status(conn, what):
    upto = conn.line_end()
    if not conn.data.startswith(b"+OK", conn.start, upto):
        raise RuntimeError(f"{what}: {conn.take(upto).decode('latin-1').strip()}")
    conn.start = upto


def pop3_body(conn, keep=False):
    """After the status line: the multi-line body's length up to its terminator (and its
    bytes when `keep`), consumed."""
    # The status line's CRLF is consumed, so an empty body is a bare ".\r\n".
    while conn.end - conn.start < 3:
        conn.fill()
    if conn.data.startswith(b".\r\n", conn.start):
        conn.start += 3
        return 0, b""
    at = conn.start
    while True:
        i = conn.data.find(TERM, at, conn.end)
        if i >= 0:
            n = i + 2 - conn.start
            body = bytes(conn.view[conn.start:i + 2]) if keep else b""
            conn.start = i + 5
            return n, body
        at = max(conn.start, conn.end - 4)
        before = conn.start
        conn.fill()
        at -= before - conn.start  # fill() may have moved the unread part to the front


def pop3_session(args, user):
    conn = Conn(args.host, args.port, args.timeout)
    try:
        pop3_status(conn, "greeting")
        conn.send(b"USER " + user.encode() + b"\r\n")
        pop3_status(conn, "USER")
        conn.send(b"PASS " + args.password.encode() + b"\r\n")
        pop3_status(conn, "PASS")
        conn.send(b"LIST\r\n")
        pop3_status(conn, "LIST")
        sizes = {}
        for line in pop3_body(conn, keep=True)[1].split(b"\r\n"):
            if line:
                num, size = line.split()[:2]
                sizes[int(num)] = int(size)
        got_bytes, wire_bytes, lat = 0, 0, []
        clock = time.perf_counter
        for num in sorted(sizes):
            t0 = clock()
            conn.send(b"RETR %d\r\n" % num)
            pop3_status(conn, "RETR")
            wire_bytes += pop3_body(conn)[0]
            lat.append(clock() - t0)
            got_bytes += sizes[num]
        conn.send(b"QUIT\r\n")
        pop3_status(conn, "QUIT")
        return len(sizes), got_bytes, wire_bytes, lat
    finally:
        conn.close()


def pop3_worker(args, i):
    user = args.user % (i + 1) if "%d" in args.user else args.user
    totals = [0, 0, 0, []]
    for _ in range(args.rounds):
        n, b, w, lat = pop3_session(args, user)
        if n == 0:
            raise RuntimeError(f"{user}: mailbox is empty (seed it with seed_imap.py)")
        totals[0] += n
        totals[1] += b
        totals[2] += w
        totals[3] += lat
    return totals


def pop3_report(args, elapsed, results, errors):
    msgs = sum(r[0] for r in results if r)
    octets = sum(r[1] for r in results if r)
    wire = sum(r[2] for r in results if r)
    lat = sorted(x for r in results if r for x in r[3])
    print(f"target {args.host}:{args.port}  sessions={args.sessions} rounds={args.rounds} "
          f"user={args.user} client=lean")
    print(f"retrieved {msgs} messages, {octets} octets (wire {wire}) in {elapsed:.3f} s; "
          f"errors {len(errors)}")
    for e in errors[:5]:
        print(f"  error: {e}")
    if lat:
        print("RETR latency: p50 {} p99 {} max {}".format(
            *(fmt_ms(percentile(lat, p)) for p in (50, 99, 100))))
    rate = msgs / elapsed if elapsed > 0 else 0.0
    mbs = octets / elapsed / 1e6 if elapsed > 0 else 0.0
    print(f"pop3_retr: {rate:.1f} msg/s {mbs:.2f} MB/s")


# ---------------------------------------------------------------------------------------
# IMAP: LOGIN; SELECT; FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE); FETCH n BODY.PEEK[] for
# every message; SEARCH HEADER; LOGOUT (as imap_fetch.py)


def quote(s):
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class Imap:
    def __init__(self, args):
        self.conn = Conn(args.host, args.port, args.timeout)
        self.n = 0
        self.stats = {}

    def read_response(self):
        """One response: (text with literals replaced by {i}, [literals]) (RFC 3501 §4.3)."""
        conn = self.conn
        parts, literals = [], []
        while True:
            upto = conn.line_end()
            line = conn.take(upto)
            m = LITERAL.search(line, 0, len(line) - 2)
            if not m:
                parts.append(line)
                return b"".join(parts), literals
            parts.append(line[:m.start()] + b"{%d}" % len(literals))
            size = int(m.group(1))
            while conn.end - conn.start < size:
                conn.fill()
            literals.append(conn.take(conn.start + size))

    def command(self, op, cmd):
        """One tagged command; its untagged responses as (text, literals)."""
        self.n += 1
        tag = b"b%d " % self.n
        t0 = time.perf_counter()
        self.conn.send(tag + cmd + b"\r\n")
        untagged = []
        while True:
            text, lits = self.read_response()
            if text.startswith(tag):
                break
            if text.startswith(b"+"):
                raise RuntimeError(f"{op}: unexpected continuation request")
            untagged.append((text, lits))
        self.stats.setdefault(op, []).append(time.perf_counter() - t0)
        if text[len(tag):len(tag) + 3].upper() != b"OK ":
            raise RuntimeError(f"{op}: {text.decode('latin-1').strip()}")
        return untagged

    def fetch_body(self, num, item, lat):
        """FETCH num item, lock-step: (body length, or -1 when no body literal came)."""
        conn = self.conn
        self.n += 1
        tag = b"b%d " % self.n
        t0 = time.perf_counter()
        conn.send(tag + b"FETCH %d " % num + item + b"\r\n")
        body = -1
        while True:
            upto = conn.line_end()
            line_start = conn.start
            if conn.data.startswith(tag, line_start, upto):
                ok = conn.data[line_start + len(tag):line_start + len(tag) + 3].upper() == b"OK "
                line = conn.take(upto)
                if not ok:
                    raise RuntimeError(f"FETCH-BODY: {line.decode('latin-1').strip()}")
                break
            m = LITERAL.search(conn.data, line_start, upto - 2)
            conn.start = upto
            if not m:
                continue
            # Read the match groups now: fill() rewrites the buffer they point into.
            size = int(m.group(1))
            fm = FETCH_NUM.match(conn.data, line_start, upto)
            ours = fm is not None and int(fm.group(1)) == num
            while conn.end - conn.start < size:
                conn.fill()
            conn.start += size
            if ours and body < 0:
                body = size
        lat.append(time.perf_counter() - t0)
        return body


def imap_session(args, user, stats):
    imap = Imap(args)
    imap.stats = stats
    body_bytes = 0
    try:
        text, _ = imap.read_response()
        if not text.startswith(b"* OK"):
            raise RuntimeError(f"greeting: {text!r}")
        imap.command("LOGIN", b"LOGIN " + quote(user) + b" " + quote(args.password))
        exists = 0
        for text, _ in imap.command("SELECT", b"SELECT " + quote(args.mailbox)):
            m = EXISTS.match(text)
            if m:
                exists = int(m.group(1))
        if exists == 0:
            raise RuntimeError(f"{user}/{args.mailbox} is empty (seed it with seed_imap.py)")
        sizes = {}
        for text, _ in imap.command("FETCH-META", b"FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)"):
            m, s = FETCH_NUM.match(text), SIZE.search(text)
            if m and s:
                sizes[int(m.group(1))] = int(s.group(1))
        if len(sizes) != exists:
            raise RuntimeError(f"FETCH-META returned {len(sizes)} of {exists} messages")
        item = b"BODY.PEEK[]" if args.peek else b"BODY[]"
        lat = stats.setdefault("FETCH-BODY", [])
        for num in range(1, exists + 1):
            got = imap.fetch_body(num, item, lat)
            if got < 0:
                raise RuntimeError(f"FETCH {num} returned no body")
            if got != sizes[num]:
                raise RuntimeError(f"message {num}: body {got} octets, RFC822.SIZE {sizes[num]}")
            body_bytes += got
        hits = 0
        search = b"SEARCH HEADER " + quote(args.search_header) + b" " + quote(args.search_text)
        for text, _ in imap.command("SEARCH", search):
            if text.startswith(b"* SEARCH"):
                hits += len(text.split()) - 2
        imap.command("LOGOUT", b"LOGOUT")
        return exists, body_bytes, hits
    finally:
        imap.conn.close()


def imap_worker(args, i):
    user = args.user % (i + 1) if "%d" in args.user else args.user
    stats, msgs, octets, hits = {}, 0, 0, set()
    for _ in range(args.rounds):
        n, b, h = imap_session(args, user, stats)
        msgs, octets = msgs + n, octets + b
        hits.add(h)
    return stats, msgs, octets, hits


def imap_report(args, elapsed, results, errors):
    merged, msgs, octets, hits = {}, 0, 0, set()
    for r in results:
        if r:
            for op, lat in r[0].items():
                merged.setdefault(op, []).extend(lat)
            msgs, octets = msgs + r[1], octets + r[2]
            hits |= r[3]
    ops = sum(len(v) for v in merged.values())
    print(f"target {args.host}:{args.port}  sessions={args.sessions} rounds={args.rounds} "
          f"user={args.user} {'BODY.PEEK[]' if args.peek else 'BODY[]'} client=lean")
    print(f"{ops} ops in {elapsed:.3f} s; {msgs} message bodies, {octets} octets; "
          f"SEARCH hits {sorted(hits)}; errors {len(errors)}")
    for e in errors[:5]:
        print(f"  error: {e}")
    for op in ("LOGIN", "SELECT", "FETCH-META", "FETCH-BODY", "SEARCH", "LOGOUT"):
        lat = sorted(merged.get(op, []))
        if lat:
            print(f"  {op:<10} n={len(lat):<7} mean {fmt_ms(sum(lat) / len(lat))}  "
                  f"p50 {fmt_ms(percentile(lat, 50))}  p99 {fmt_ms(percentile(lat, 99))}")
    if elapsed > 0:
        print(f"bodies: {msgs / elapsed:.1f} msg/s {octets / elapsed / 1e6:.2f} MB/s")
    print(f"imap_fetch: {ops / elapsed if elapsed > 0 else 0.0:.1f} ops/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("protocol", choices=["pop3", "imap"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30.0, help="per socket operation (s)")
    ap.add_argument("--sessions", "-k", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=1, help="sessions per worker, back to back")
    ap.add_argument("--user", required=True, help="login name; %%d = session number")
    ap.add_argument("--password", default="pass")
    ap.add_argument("--mailbox", default="INBOX")
    ap.add_argument("--no-peek", dest="peek", action="store_false")
    ap.add_argument("--search-header", default="Subject")
    ap.add_argument("--search-text", default="report")
    args = ap.parse_args()
    for info in socket.getaddrinfo(args.host, args.port, proto=socket.IPPROTO_TCP):
        if not ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback:
            sys.exit(f"refusing non-loopback target {args.host}")
    if args.protocol == "pop3":
        elapsed, results, errors = run_processes(args.sessions, pop3_worker, args)
        pop3_report(args, elapsed, results, errors)
    else:
        elapsed, results, errors = run_processes(args.sessions, imap_worker, args)
        imap_report(args, elapsed, results, errors)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
