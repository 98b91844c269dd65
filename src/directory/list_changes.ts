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

export async function addMember(
  d: DirectoryChanges,
  nameIn: string,
  domainIn: string,
  mailbox: string,
): Promise<ListRecord> {
  const [addr] = normalizeAddresses([mailbox]);
  return await changeMember(d, nameIn, domainIn, addr, (list) => {
    if (list.members.includes(addr)) {
      throw new DirectoryError(`${addr} is already a member of ${list.name}@${list.domain}`);
    }
    return "member.add";
  });
}

export async function delMember(
  d: DirectoryChanges,
  nameIn: string,
  domainIn: string,
  mailbox: string,
): Promise<ListRecord> {
  const [addr] = normalizeAddresses([mailbox]);
  return await changeMember(d, nameIn, domainIn, addr, (list) => {
    if (!list.members.includes(addr)) {
      throw new DirectoryError(`${addr} is not a member of ${list.name}@${list.domain}`);
    }
    return "member.del";
  });
}

/** Adds or removes one member (`check` refuses or says which); resolves to the new list. */
async function changeMember(
  d: DirectoryChanges,
  nameIn: string,
  domainIn: string,
  mailbox: string,
  check: (list: ListRecord) => "member.add" | "member.del",
): Promise<ListRecord> {
  let key = "";
  await d.commit(() => {
    const list = d.state().requireList(nameIn, domainIn);
    key = addressKey(list.name, list.domain);
    return { op: check(list), domain: list.domain, list: list.name, mailbox };
  });
  return d.state().lists.get(key)!;
}
