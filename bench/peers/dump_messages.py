#!/usr/bin/env python3
"""Writes the message set seed_imap.py would APPEND, for seeding a mailbox directly.

  python3 bench/peers/dump_messages.py SHARED_BENCH_DIR [--count 2000] [--seed 42]

The messages come from the shared msggen.py in the same order and with the same random
generator as seed_imap.py, with line endings normalized to CRLF the way imaplib's
append() does. Output on stdout: for each message, its length in decimal, a newline,
then exactly that many octets.
"""
import argparse
import random
import re
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("bench_dir")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    sys.path.insert(0, args.bench_dir)
    import msggen  # noqa: E402  (from the shared bench directory)

    crlf = re.compile(rb"\r\n|\r|\n")  # imaplib.IMAP4.append's MapCRLF
    rng = random.Random(args.seed)
    out = sys.stdout.buffer
    for _ in range(args.count):
        msg = crlf.sub(b"\r\n", msggen.make_message(rng))
        out.write(b"%d\n" % len(msg))
        out.write(msg)
    out.flush()


if __name__ == "__main__":
    main()
