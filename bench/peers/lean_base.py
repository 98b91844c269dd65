"""The parts of lean_load.py that are not POP3 or IMAP: the connection with its one
receive buffer (Conn), and the forked worker processes released together with the
figures they report (run_processes, percentile, fmt_ms). See lean_load.py for why.
"""
import os
import pickle
import socket
import struct
import time

BUF = 4 * 1024 * 1024


class Conn:
    """A blocking socket and one receive buffer: data[start:end] is received, unread."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        tv = struct.pack("ll", int(timeout), int((timeout % 1) * 1e6))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.data = bytearray(BUF)
        self.view = memoryview(self.data)
        self.start = 0
        self.end = 0

    def fill(self):
        """Receives more after data[start:end], moving the unread part to the front first."""
        if self.start > 0:
            n = self.end - self.start
            if n:
                self.data[:n] = self.view[self.start:self.end]
            self.start, self.end = 0, n
        if self.end == len(self.data):
            self.view.release()  # a bytearray with a view on it cannot grow
            self.data.extend(bytes(len(self.data)))
            self.view = memoryview(self.data)
        got = self.sock.recv_into(self.view[self.end:])
        if got == 0:
            raise ConnectionError("server closed the connection")
        self.end += got

    def line_end(self):
        """Index just past the next LF, receiving as needed."""
        while True:
            i = self.data.find(b"\n", self.start, self.end)
            if i >= 0:
                return i + 1
            self.fill()

    def take(self, upto):
        out = bytes(self.view[self.start:upto])
        self.start = upto
        return out

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.view.release()
            self.sock.close()
        except (OSError, BufferError):
            pass


# ---------------------------------------------------------------------------------------
# Processes


def percentile(sorted_values, p):
    """Nearest-rank percentile, as benchlib.percentile."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def fmt_ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def run_processes(n, worker, args):
    """worker(args, i) in n forked processes released together; (elapsed, results, errors).

    Elapsed runs from the release until the last process has sent its result.
    """
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    children = []
    for i in range(n):
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(go_w)
            os.close(out_r)
            os.write(ready_w, b"r")
            os.read(go_r, 1)
            try:
                result = (worker(args, i), None)
            except Exception as e:  # reported, and makes the run fail
                result = (None, f"worker {i}: {type(e).__name__}: {e}")
            with os.fdopen(out_w, "wb") as f:
                pickle.dump(result, f)
            os._exit(0)
        os.close(out_w)
        children.append((pid, out_r))
    os.close(ready_w)
    os.close(go_r)
    for _ in range(n):
        os.read(ready_r, 1)
    t0 = time.perf_counter()
    os.write(go_w, b"g" * n)
    results, errors, done = [None] * n, [], None
    for i, (pid, out_r) in enumerate(children):
        with os.fdopen(out_r, "rb") as f:
            data = f.read()
        done = time.perf_counter()
        os.waitpid(pid, 0)
        try:
            results[i], err = pickle.loads(data)
        except Exception as e:
            results[i], err = None, f"worker {i}: no result ({type(e).__name__})"
        if err:
            errors.append(err)
    return (done or time.perf_counter()) - t0, results, errors
