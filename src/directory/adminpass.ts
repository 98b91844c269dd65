/**
 * The admin password (SPEC §2): kept as a salted hash in DirBase/admin.passwd. On
 * first start it comes from EXTREMAIL_ADMIN_PASSWORD or is generated and printed once.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../store/fsutil.ts";
import { hashPassword, randomPassword, verifyPassword } from "./password.ts";

export const ADMIN_PASSWORD_FILE = "admin.passwd";

export class AdminPassword {
  readonly path: string;
  #hash = "";

  constructor(dirBase: string) {
    this.path = join(dirBase, ADMIN_PASSWORD_FILE);
  }

  /**
   * Loads the hash, creating the file when missing. Returns the generated password
   * when one had to be made (the caller logs it once), else null.
   */
  async init(fromEnv: string | undefined): Promise<string | null> {
    try {
      this.#hash = (await Deno.readTextFile(this.path)).trim();
      if (this.#hash) return null;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const generated = fromEnv ? null : randomPassword();
    await this.set(fromEnv || generated!);
    return generated;
  }

  verify(password: string): Promise<boolean> {
    return verifyPassword(password, this.#hash);
  }

  /** Stores a new password durably (atomic replace, fsync'd) before returning. */
  async set(password: string): Promise<void> {
    const hash = await hashPassword(password);
    await writeFileAtomic(this.path, hash + "\n");
    this.#hash = hash;
  }
}
