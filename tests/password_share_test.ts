/**
 * Password checks that compute the same thing at the same time run one scrypt (128 MiB
 * each while it runs, SPEC §7): several connections of one client logging in at once,
 * and missing accounts alike (their dummy check), so sharing tells nothing about whether
 * an account exists.
 */
import {
  checksUnderWay,
  dummyVerify,
  hashPassword,
  verifyPassword,
} from "../src/directory/password.ts";
import { assertEquals } from "./helpers/assert.ts";

Deno.test("password: identical checks at the same time share one scrypt", async () => {
  const stored = await hashPassword("right");
  assertEquals(checksUnderWay(), 0);
  const wrong = [1, 2, 3].map(() => verifyPassword("wrong", stored));
  const other = verifyPassword("other", stored);
  assertEquals(checksUnderWay(), 2, "three identical checks and a different one");
  assertEquals(await Promise.all([...wrong, other]), [false, false, false, false]);
  const right = [1, 2, 3, 4].map(() => verifyPassword("right", stored));
  assertEquals(checksUnderWay(), 1);
  assertEquals(await Promise.all(right), [true, true, true, true]);
  const missing = [1, 2, 3].map(() => dummyVerify("guess"));
  assertEquals(checksUnderWay(), 1);
  assertEquals(await Promise.all(missing), [false, false, false]);
  assertEquals(checksUnderWay(), 0);
});
