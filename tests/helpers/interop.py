# Shared by tests/interop_*_test.ts: a raw line client over a plain or TLS socket (and
# raw DEFLATE, RFC 4978), deterministic test messages, and byte-exact checks. Run through
# tests/helpers/server.ts python() with argv: ports as JSON, the CA certificate's path.
import json, random, re, socket, ssl, sys, zlib

PORTS = json.loads(sys.argv[1])
CTX = ssl.create_default_context(cafile=sys.argv[2])
CTX.check_hostname = False


def message(seed, size, to="joe@ex.test"):
    """About `size` octets, CRLF lines of up to 990 characters, some with leading dots."""
    rnd = random.Random(seed)
    head = f"From: a@ex.test\r\nTo: {to}\r\nSubject: m{seed} {size}\r\nMessage-ID: <m{seed}@x>\r\n\r\n"
    out = bytearray(head.encode())
    while len(out) < size:
        line = "".join(rnd.choice("abcdefghij .") for _ in range(rnd.randint(0, 990)))
        out += line.encode() + b"\r\n"
    return bytes(out)


def exact_size(seed, size):
    """Exactly `size` octets (ends with CRLF): to land terminators on read boundaries."""
    m = bytearray(message(seed, size))
    del m[size - 2:]
    return bytes(m) + b"\r\n"


def dot_stuff(m):
    return b"\r\n".join((b"." + l if l.startswith(b".") else l) for l in m.split(b"\r\n"))


class Client:
    def __init__(self, port, tls=False):
        raw = socket.create_connection(("127.0.0.1", PORTS[port]), timeout=60)
        self.raw = raw
        self.s = CTX.wrap_socket(raw) if tls else raw
        self.buf = b""
        self.z = None

    def starttls(self):
        assert self.buf == b"", self.buf  # nothing may be pending in plaintext
        self.s = CTX.wrap_socket(self.raw)

    def compress(self, deflater=None):
        """DEFLATE from now on; `deflater`: the one that already compressed pipelined input."""
        self.z = (deflater or zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15))
        self.buf = self.z[1].decompress(self.buf)

    def recv(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError(self.buf[-200:])
        self.buf += self.z[1].decompress(d) if self.z else d

    def send(self, d):
        if self.z:
            d = self.z[0].compress(d) + self.z[0].flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(d)

    def line(self):
        while b"\r\n" not in self.buf:
            self.recv()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def take(self, n):
        while len(self.buf) < n:
            self.recv()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def close(self):
        self.s.close()

    # POP3
    def multi(self):
        """A POP3 multi-line body, un-stuffed, with CRLF line ends."""
        out = []
        while True:
            l = self.line()
            if l == b".":
                return b"".join(x + b"\r\n" for x in out)
            out.append(l[1:] if l.startswith(b".") else l)

    # IMAP
    def until(self, tag):
        """IMAP responses up to the tagged one, and the literals in them."""
        out, lits = [], []
        while True:
            l = self.line()
            m = re.search(rb"\{(\d+)\}$", l)
            while m:
                lits.append(self.take(int(m.group(1))))
                l = self.line()
                m = re.search(rb"\{(\d+)\}$", l)
            out.append(l)
            if l.startswith(tag + b" "):
                return out, lits

    def ok(self, tag):
        out, lits = self.until(tag)
        assert out[-1].split()[1] == b"OK", out[-1]
        return out, lits

    # SMTP
    def ehlo(self):
        self.send(b"EHLO client.example\r\n")
        caps = []
        while True:
            l = self.line()
            caps.append(l[4:])
            if l.startswith(b"250 "):
                return caps
