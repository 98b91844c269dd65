/**
 * The description of one configuration key, by TOML type: its default, its comment for
 * conf/extremail.toml and the docs, and the rule its value must follow. CONFIG_KEYS in
 * schema.ts is the table of them.
 */
import type { ConfigKey } from "./schema.ts";
import type { Problem } from "./value_rules.ts";

interface KeyBase {
  readonly key: ConfigKey;
  /** One line for conf/extremail.toml and the docs. */
  readonly comment: string;
  /** Not in SPEC §3; added by this implementation. */
  readonly extension?: true;
}

export interface StringKeySpec extends KeyBase {
  readonly kind: "string";
  readonly defaultValue: string;
  /** The only values allowed (matched case-insensitively, stored in lowercase). */
  readonly choices?: readonly string[];
  /** A file or directory; relative values in a file resolve against the file's directory. */
  readonly isPath?: true;
  /** Never echoed in error messages or check-conf output. */
  readonly secret?: true;
  /** The value as messages and check-conf show it (a URL without its password). */
  readonly redact?: (value: string) => string;
  readonly check?: (value: string) => Problem;
  /** The stored form of a value that passed `check` (NodeName: lower-case). */
  readonly normalize?: (value: string) => string;
}

export interface IntegerKeySpec extends KeyBase {
  readonly kind: "integer";
  readonly defaultValue: number;
  readonly min: number;
  readonly max: number;
  /** The rule in words, shown when the value is out of range. */
  readonly rule: string;
  /** A size in bytes: classic files may write it with a K, M or G suffix. */
  readonly bytes?: true;
}

export interface StringListKeySpec extends KeyBase {
  readonly kind: "stringList";
  readonly defaultValue: readonly string[];
  readonly nonEmpty?: true;
  readonly checkItem: (item: string) => Problem;
}

export interface IntegerListKeySpec extends KeyBase {
  readonly kind: "integerList";
  readonly defaultValue: readonly number[];
  readonly min: number;
  readonly max: number;
  readonly rule: string;
}

/** A TOML table of strings, `name = "value"` (Nodes); names are stored lower-case. */
export interface StringTableKeySpec extends KeyBase {
  readonly kind: "stringTable";
  readonly defaultValue: Readonly<Record<string, string>>;
  readonly checkEntry: (name: string, value: string) => Problem;
}

export interface BooleanKeySpec extends KeyBase {
  readonly kind: "boolean";
  readonly defaultValue: boolean;
}

export type KeySpec =
  | StringKeySpec
  | IntegerKeySpec
  | StringListKeySpec
  | IntegerListKeySpec
  | StringTableKeySpec
  | BooleanKeySpec;
