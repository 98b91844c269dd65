/**
 * Name rules for the directory: domains, local parts and mailbox addresses.
 *
 * Every name that reaches the file system passes through here, so these rules are
 * also the guard that keeps users and domains inside DirBase (SPEC §7).
 */
import { isAscii } from "../message/controls.ts";
import { domainToASCII } from "node:url";

/** Thrown for a name that breaks a rule; the message says which rule. */
export class NameError extends Error {}

// RFC 5321 4.1.2 / RFC 5322 3.2.3: atext, minus "/" which we refuse because the
// local part becomes a directory name (documented in README "Names").
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-=?^_`{|}~]+$/;
// RFC 1035 2.3.1 label syntax (LDH), 1..63 octets.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Validates and lower-cases a domain (U-labels are converted to A-labels). */
export function normalizeDomain(input: string): string {
  const raw = input.trim().replace(/\.$/, "");
  if (raw === "") throw new NameError("domain is empty");
  const ascii = isAscii(raw) ? raw.toLowerCase() : domainToASCII(raw);
  if (ascii === "") throw new NameError(`"${input}" is not a valid domain name`);
  if (ascii.length > 253) throw new NameError(`domain "${input}" is longer than 253 octets`);
  const labels = ascii.split(".");
  if (labels.length < 1) throw new NameError(`"${input}" is not a valid domain name`);
  for (const label of labels) {
    if (!LABEL.test(label)) {
      throw new NameError(
        `"${input}" is not a valid domain name (label "${label}": letters, digits and inner hyphens, 1-63 long)`,
      );
    }
  }
  return ascii;
}

/** Validates and lower-cases a local part (user, alias or list name). */
export function normalizeLocalPart(input: string): string {
  const name = input.trim();
  if (name === "") throw new NameError("name is empty");
  // RFC 5321 4.5.3.1.1: local part at most 64 octets.
  if (name.length > 64) throw new NameError(`name "${input}" is longer than 64 octets`);
  const atoms = name.split(".");
  for (const atom of atoms) {
    if (!ATEXT.test(atom)) {
      throw new NameError(
        `"${input}" is not a valid mailbox name (RFC 5321 dot-atom without "/"; no leading, trailing or double dots)`,
      );
    }
  }
  return name.toLowerCase();
}

export interface Address {
  local: string;
  domain: string;
}

/**
 * Splits and validates `local@domain`. The local part keeps its case here (the
 * envelope must be relayed as written, RFC 5321 2.4); lookups lower-case it.
 */
export function parseAddress(input: string): Address {
  const at = input.lastIndexOf("@");
  if (at <= 0 || at === input.length - 1) {
    throw new NameError(`"${input}" is not an address of the form name@domain`);
  }
  const local = input.slice(0, at);
  const domain = normalizeDomain(input.slice(at + 1));
  if (local.startsWith('"')) {
    // RFC 5321 4.1.2 quoted-string local part: accepted for relaying, never for local names.
    if (!/^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/.test(local)) {
      throw new NameError(`"${input}" has a malformed quoted local part`);
    }
    return { local, domain };
  }
  if (local.length > 64) throw new NameError(`local part of "${input}" is longer than 64 octets`);
  for (const atom of local.split(".")) {
    // SMTPUTF8 (RFC 6531) allows UTF-8 in local parts; allow non-ASCII alongside atext.
    if (atom === "" || !/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+$/.test(atom)) {
      throw new NameError(`"${input}" has a malformed local part`);
    }
  }
  return { local, domain };
}

/** `local@domain` with both parts lower-cased: the key of every directory map. */
export function addressKey(local: string, domain: string): string {
  return `${local.toLowerCase()}@${domain.toLowerCase()}`;
}

// A node name (SPEC §12 NodeName, Nodes, NODE=): it appears in logs, admin replies and
// TOML keys, so letters, digits, "-", "_" and "." only, beginning with a letter or digit.
const NODE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** Validates and lower-cases a node name; "" (a single machine) stays "". */
export function normalizeNodeName(input: string): string {
  const name = input.trim().toLowerCase();
  if (name === "" || NODE_NAME.test(name)) return name;
  throw new NameError(
    `"${input}" is not a node name (1-63 letters, digits, "-", "_" or ".", first a letter or digit)`,
  );
}
