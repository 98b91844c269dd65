/**
 * The admin password (SPEC §2): kept as a salted hash in DirBase/admin.passwd. On
 * first start it comes from EXTREMAIL_ADMIN_PASSWORD or is generated and printed once.
 * `extremail admin-password` (SPEC §10) replaces the file while the daemon runs; every
 * check looks whether the file changed (one stat) and re-reads it then.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../store/fsutil.ts";
import {
  hashPassword,
  needsRehash,
  randomPassword,
  rehashPassword,
  verifyPassword,
} from "./password.ts";

export const ADMIN_PASSWORD_FILE = "admin.passwd";

export class AdminPassword {
  readonly path: string;
  #hash = "";
  /** Identity of the file the hash was read from: inode, size, mtime. */
  #stamp = "";
  #rehashing = false;

  constructor(dirBase: string) {
    this.path = join(dirBase, ADMIN_PASSWORD_FILE);
  }

  /**
   * Loads the hash, creating the file when missing. Returns the generated password
   * when one had to be made (the caller logs it once), else null.
   */
  async init(fromEnv: string | undefined): Promise<string | null> {
    try {
      const stamp = await this.#fileStamp();
      this.#hash = (await Deno.readTextFile(this.path)).trim();
      this.#stamp = stamp;
      if (this.#hash) return null;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const generated = fromEnv ? null : randomPassword();
    await this.set(fromEnv || generated!);
    return generated;
  }

  async verify(password: string): Promise<boolean> {
    await this.#reloadIfChanged();
    const hash = this.#hash;
    const ok = await verifyPassword(password, hash);
    // A hash with older scrypt parameters is replaced once the password is known right
    // (SPEC §7), unless the file was changed meanwhile.
    if (ok && needsRehash(hash) && !this.#rehashing) {
      this.#rehashing = true;
      this.#upgrade(hash, password).finally(() => this.#rehashing = false);
    }
    return ok;
  }

  async #upgrade(old: string, password: string): Promise<void> {
    try {
      const hash = await rehashPassword(password);
      await this.#reloadIfChanged();
      if (this.#hash !== old) return;
      await writeFileAtomic(this.path, hash + "\n");
      this.#hash = hash;
      this.#stamp = await this.#fileStamp();
    } catch {
      // The old hash stays in force and still verifies; the next login tries again.
    }
  }

  async #fileStamp(): Promise<string> {
    const st = await Deno.stat(this.path);
    return `${st.ino}:${st.size}:${st.mtime?.getTime()}`;
  }

  /** A new file (atomic replace: a new inode) was written by another process. */
  async #reloadIfChanged(): Promise<void> {
    try {
      const stamp = await this.#fileStamp();
      if (stamp === this.#stamp) return;
      const hash = (await Deno.readTextFile(this.path)).trim();
      // A file emptied by hand is not a password: the last one stays in force.
      if (hash) this.#hash = hash;
      this.#stamp = stamp;
    } catch {
      // The file vanished or cannot be read: keep the password known so far.
    }
  }

  /** Stores a new password durably (atomic replace, fsync'd) before returning. */
  async set(password: string): Promise<void> {
    const hash = await hashPassword(password);
    await writeFileAtomic(this.path, hash + "\n");
    this.#hash = hash;
    this.#stamp = await this.#fileStamp();
  }
}
