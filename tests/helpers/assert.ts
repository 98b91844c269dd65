/** Minimal assertions (JSR's @std/assert is unreachable here); node:assert underneath. */
import { deepStrictEqual, ok } from "node:assert";

export function assert(cond: unknown, msg?: string): asserts cond {
  ok(cond, msg);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  deepStrictEqual(actual, expected, msg);
}

export function assertMatch(text: string, re: RegExp, msg?: string): void {
  ok(re.test(text), msg ?? `expected ${JSON.stringify(text)} to match ${re}`);
}

export function assertThrows(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type?: abstract new (...args: any[]) => Error,
  includes?: string,
  msg?: string,
): void {
  try {
    fn();
  } catch (e) {
    if (type && !(e instanceof type)) throw new Error(`${msg ?? ""} wrong error type: ${e}`);
    if (includes && !String((e as Error).message).includes(includes)) {
      throw new Error(`${msg ?? ""} message "${(e as Error).message}" lacks "${includes}"`);
    }
    return;
  }
  throw new Error(`${msg ?? "expected an exception"}`);
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type?: abstract new (...args: any[]) => Error,
  includes?: string,
): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (type && !(e instanceof type)) throw new Error(`wrong error type: ${e}`);
    if (includes && !String((e as Error).message).includes(includes)) {
      throw new Error(`message "${(e as Error).message}" lacks "${includes}"`);
    }
    return;
  }
  throw new Error("expected a rejection");
}
