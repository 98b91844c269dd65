/**
 * Directory records for unit tests that need a UserRecord without a directory: the record
 * a new user gets (src/directory/directory_input.ts newUserRecord), with some fields set.
 */
import { newUserRecord } from "../../src/directory/directory_input.ts";
import type { UserRecord } from "../../src/directory/records.ts";

/** A frozen UserRecord of `name@domain` with the defaults of USER ADD, and `more` over them. */
export function userRecord(
  name: string,
  domain: string,
  more: Partial<UserRecord> = {},
): UserRecord {
  return Object.freeze({ ...newUserRecord(name, domain, "", "", "", { name, domain }), ...more });
}
