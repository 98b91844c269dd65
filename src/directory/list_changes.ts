/**
 * The mailing-list mutations of the Directory (directory.ts): create and delete a list,
 * add and remove members. Like every mutation, each checks its input, then commits a plan
 * that checks the request against the mirror inside the backend's transaction and returns
 * one DirectoryChange (changes.ts).
 */
import { addressKey, normalizeLocalPart } from "./names.ts";
import { DirectoryError, type ListAccess, type ListRecord } from "./records.ts";
import type { DirectoryBackend } from "./changes.ts";
import type { DirectoryState } from "./state.ts";
import { normalizeAddresses, wrapName } from "./directory_input.ts";

/** A Directory's backend commit and its current mirror (replaced on a full re-read). */
export interface DirectoryChanges {
  commit: DirectoryBackend["commit"];
  state(): DirectoryState;
}

export async function addList(
  d: DirectoryChanges,
  nameIn: string,
  domainIn: string,
  access: ListAccess = "PUBLIC",
): Promise<ListRecord> {
  const name = wrapName(() => normalizeLocalPart(nameIn));
  if (name === "*") throw new DirectoryError('"*" is the catch-all alias name, not a list name');
  let list!: ListRecord;
  await d.commit(() => {
    const state = d.state();
    const domain = state.requireDomain(domainIn);
    state.requireFree(name, domain);
    // The list's bounce address (SPEC §5) must not shadow anything either.
    if (state.resolveExact(`${name}-bounces`, domain)) {
      throw new DirectoryError(
        `${name}-bounces@${domain} is taken; the list needs it for bounces`,
      );
    }
    list = Object.freeze({ name, domain, access, members: Object.freeze([]) });
    return { op: "list.add", list };
  });
  return list;
}

export async function delList(
  d: DirectoryChanges,
  nameIn: string,
  domainIn: string,
): Promise<ListRecord> {
  let list!: ListRecord;
  await d.commit(() => {
    list = d.state().requireList(nameIn, domainIn);
    return { op: "list.del", domain: list.domain, name: list.name };
  });
  return list;
}

/** Adds a member (refused when already there); resolves to the new list. */
export function addMember(
  d: DirectoryChanges,
  nameIn: string,
  domainIn: string,
  mailbox: string,
): Promise<ListRecord> {
  return changeMember(d, "member.add", nameIn, domainIn, mailbox);
}

/** Removes a member (refused when not there); resolves to the new list. */
export function delMember(
  d: DirectoryChanges,
  nameIn: string,
  domainIn: string,
  mailbox: string,
): Promise<ListRecord> {
  return changeMember(d, "member.del", nameIn, domainIn, mailbox);
}

async function changeMember(
  d: DirectoryChanges,
  op: "member.add" | "member.del",
  nameIn: string,
  domainIn: string,
  mailbox: string,
): Promise<ListRecord> {
  const [addr] = normalizeAddresses([mailbox]);
  let key = "";
  await d.commit(() => {
    const list = d.state().requireList(nameIn, domainIn);
    const member = list.members.includes(addr);
    if (op === "member.add" && member) {
      throw new DirectoryError(`${addr} is already a member of ${list.name}@${list.domain}`);
    }
    if (op === "member.del" && !member) {
      throw new DirectoryError(`${addr} is not a member of ${list.name}@${list.domain}`);
    }
    key = addressKey(list.name, list.domain);
    return { op, domain: list.domain, list: list.name, mailbox: addr };
  });
  return d.state().lists.get(key)!;
}
