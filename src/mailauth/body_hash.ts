/**
 * The DKIM body hash (bh=) with the "relaxed" body canonicalization of RFC 6376 §3.4.4,
 * over a body given in pieces (a queued message read from its file in chunks): white
 * space at the end of a line is dropped, runs of white space inside a line become one
 * SP, empty lines at the end of the body are dropped, and a non-empty body ends with
 * CRLF (§3.4.3 with the errata: an empty body hashes as the empty string).
 *
 * Line ends are what the outbound client sends (src/message/dot_stuffing.ts, SMTP): CRLF,
 * a bare LF and a bare CR each end a line, so the hash covers the message as the next hop
 * receives it. The pieces are not kept (a reader may reuse its buffer): the canonical
 * form goes to SHA-256 through a small buffer of its own, so a large body costs no memory
 * of its size. Pure over bytes.
 */
import { createHash, type Hash } from "node:crypto";

const CR = 13, LF = 10, SP = 32, HT = 9;
/** Canonical output collected before it is handed to the hash. */
const OUT_SIZE = 64 * 1024;

export class RelaxedBodyHash {
  readonly #hash: Hash = createHash("sha256");
  readonly #out = new Uint8Array(OUT_SIZE);
  #n = 0;
  /** White space seen in the current line and not written yet (it may be trailing). */
  #space = false;
  /** Line ends not written yet: they are dropped when only empty lines follow. */
  #lineEnds = 0;
  /** The last octet was a CR: an LF now completes its CRLF (one line end, not two). */
  #afterCr = false;
  /** Something other than line ends was written: the body is not empty. */
  #content = false;

  push(piece: Uint8Array): void {
    const out = this.#out;
    let n = this.#n;
    for (let i = 0; i < piece.length; i++) {
      const b = piece[i];
      if (b === SP || b === HT) {
        this.#space = true;
        this.#afterCr = false;
        continue;
      }
      if (b === CR || b === LF) {
        if (b === LF && this.#afterCr) {
          this.#afterCr = false;
          continue;
        }
        this.#afterCr = b === CR;
        this.#space = false;
        this.#lineEnds++;
        continue;
      }
      this.#afterCr = false;
      // Room for this octet, a SP, and the pending line ends (written in pieces if many).
      if (n + 2 + 2 * this.#lineEnds > OUT_SIZE) {
        this.#n = n;
        this.#flush();
        n = 0;
        // Empty lines by the million (a body built to be slow): written in blocks.
        while (2 + 2 * this.#lineEnds > OUT_SIZE) {
          this.#hash.update(CRLFS);
          this.#lineEnds -= CRLFS.length >> 1;
        }
      }
      for (; this.#lineEnds > 0; this.#lineEnds--) {
        out[n++] = CR;
        out[n++] = LF;
      }
      if (this.#space) {
        out[n++] = SP;
        this.#space = false;
      }
      out[n++] = b;
      this.#content = true;
    }
    this.#n = n;
  }

  /** The bh= value: base64 of the SHA-256 of the canonical body. */
  digest(): string {
    this.#flush();
    if (this.#content) this.#hash.update(CRLF);
    return this.#hash.digest("base64");
  }

  #flush(): void {
    if (this.#n > 0) this.#hash.update(this.#out.subarray(0, this.#n));
    this.#n = 0;
  }
}

const CRLF = new Uint8Array([CR, LF]);
/** Line ends written in one update. */
const CRLFS = new Uint8Array(16 * 1024).map((_, i) => (i & 1 ? LF : CR));
