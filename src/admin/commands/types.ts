/**
 * The shape of one admin command: its words ("USER ADD"), the syntax HELP shows, the
 * parameters and extra words it accepts (checked before it runs), and its handler.
 */
import type { ServerContext } from "../../server/context.ts";
import { AdminError, type Reply } from "../reply.ts";

/** What a handler may ask of the session that runs it. */
export interface SessionControl {
  readonly id: string;
  readonly remoteAddress: string;
  /** LOGIN: checks the password with delay and lock-out; changes the session state. */
  login(password: string): Promise<Reply>;
  /** Waits the delay that follows every failed password check (SPEC §4: >= 1 s). */
  failureDelay(): Promise<void>;
}

export interface CommandInput {
  ctx: ServerContext;
  session: SessionControl;
  spec: CommandSpec;
  /** Words after the command's own words, e.g. ["ALL"] for USER SHOW ALL. */
  words: string[];
  params: Params;
  /** The line's text after the verb, unparsed (LOGIN takes the rest of the line). */
  raw: string;
}

export interface CommandSpec {
  /** The command's words, upper-case: "USER ADD", "LIST MEMBER ADD", "STATUS". */
  path: string;
  /** Syntax lines as HELP prints them. */
  usage: string[];
  summary: string;
  /** Accepted KEY= parameters (upper-case). */
  keys?: string[];
  /** Accepted words after the path (ALL, IPIN, ...). */
  words?: string[];
  /** The rest of the line is not parsed (LOGIN: a password may contain anything). */
  rawArgs?: boolean;
  /** Allowed before LOGIN (SPEC §4: only HELP and QUIT, and LOGIN itself). */
  beforeLogin?: boolean;
  run(input: CommandInput): Reply | Promise<Reply>;
}

/** The KEY=value parameters of one command, with errors that name the command. */
export class Params {
  readonly command: string;
  readonly #map: Map<string, string>;

  constructor(command: string, map: Map<string, string>) {
    this.command = command;
    this.#map = map;
  }

  get size(): number {
    return this.#map.size;
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  get(key: string): string | undefined {
    return this.#map.get(key);
  }

  keys(): string[] {
    return [...this.#map.keys()];
  }

  /** The value of a required parameter; `-ERR USER ADD needs NAME=<user>` when missing. */
  need(key: string, placeholder: string): string {
    const value = this.#map.get(key);
    if (value === undefined) throw new AdminError(`${this.command} needs ${key}=<${placeholder}>`);
    if (value.trim() === "") throw new AdminError(`${this.command}: ${key}= is empty`);
    return value;
  }
}
