/**
 * THREAD and UID THREAD (RFC 5256 §2.1 base subject, §3 THREAD=ORDEREDSUBJECT and
 * THREAD=REFERENCES). The threading itself (threadsOf) is pure: messages with their keys
 * in, a tree out; the command runs SEARCH first and takes the keys from the folder's
 * stored message keys (sort_index.ts), so no file is read once they are known.
 *
 * Every walk over the tree is iterative (a reply chain can be as long as the mailbox).
 * "Sent date" is the Date: field, else INTERNALDATE (RFC 5256 §2.2); ties go by sequence
 * number.
 */
import { type Args, bad } from "./args.ts";
import { type CommandSpec, SELECTED } from "./command_table.ts";
import { compareText, type MessageKeys } from "./message_keys.ts";
import { runSearch } from "./search.ts";
import { parseSearchKeys, someKey } from "./search_keys.ts";
import type { Session } from "./session.ts";
import { sortCharset, sortItemsOf } from "./sort.ts";

export type ThreadAlgorithm = "ORDEREDSUBJECT" | "REFERENCES";

export interface ThreadMessage {
  seq: number;
  uid: number;
  keys: MessageKeys;
  /** Sent date, INTERNALDATE when the Date: field is missing or unusable. */
  date: number;
}

/** A node of the result: a message, or a dummy (null) standing for a missing parent. */
export interface ThreadNode {
  msg: ThreadMessage | null;
  children: ThreadNode[];
}

interface Container {
  msg: ThreadMessage | null;
  parent: Container | null;
  children: Set<Container>;
}

function container(msg: ThreadMessage | null): Container {
  return { msg, parent: null, children: new Set() };
}

function link(parent: Container, child: Container): void {
  child.parent?.children.delete(child);
  child.parent = parent;
  parent.children.add(child);
}

/** Whether `a` is `b` or one of its ancestors. */
function isAncestor(a: Container, b: Container): boolean {
  for (let c: Container | null = b; c; c = c.parent) if (c === a) return true;
  return false;
}

function byDate(a: ThreadMessage, b: ThreadMessage): number {
  return a.date - b.date || a.seq - b.seq;
}

/** The message a node sorts by: its own, or a dummy's first child's (children sorted). */
function sortMessage(n: ThreadNode): ThreadMessage | null {
  let c: ThreadNode | undefined = n;
  while (c && !c.msg) c = c.children[0];
  return c?.msg ?? null;
}

function compareNodes(a: ThreadNode, b: ThreadNode): number {
  const x = sortMessage(a), y = sortMessage(b);
  if (!x || !y) return x ? -1 : y ? 1 : 0;
  return byDate(x, y);
}

/** Every node under `roots`, parents before children (an iterative pre-order walk). */
function preorder(roots: ThreadNode[]): ThreadNode[] {
  const out: ThreadNode[] = [];
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    out.push(n);
    for (const c of n.children) stack.push(c);
  }
  return out;
}

/** RFC 5256 §3 ORDEREDSUBJECT: by base subject, the first message of each the parent. */
function orderedSubject(msgs: ThreadMessage[]): ThreadNode[] {
  const sorted = [...msgs].sort((a, b) =>
    compareText(a.keys.subject, b.keys.subject) || byDate(a, b)
  );
  const threads: ThreadNode[] = [];
  let current: ThreadNode | null = null;
  for (const m of sorted) {
    if (current && current.msg!.keys.subject === m.keys.subject) {
      current.children.push({ msg: m, children: [] });
    } else {
      current = { msg: m, children: [] };
      threads.push(current);
    }
  }
  return threads.sort(compareNodes);
}

/** RFC 5256 §3 REFERENCES steps 1-3: link messages by References, gather the roots. */
function linkReferences(msgs: ThreadMessage[]): Container[] {
  const byId = new Map<string, Container>();
  const all: Container[] = [];
  const make = (msg: ThreadMessage | null) => {
    const c = container(msg);
    all.push(c);
    return c;
  };
  for (const m of msgs) {
    // (1) the message's container: by Message-ID, unless missing or a duplicate.
    const id = m.keys.messageId;
    let c = id ? byId.get(id) : undefined;
    if (c && c.msg === null) c.msg = m;
    else {
      c = make(m);
      if (id && !byId.has(id)) byId.set(id, c);
    }
    // (1A) each reference the parent of the next, unless linked already or a loop.
    let prev: Container | null = null;
    for (const ref of m.keys.references) {
      let r = byId.get(ref);
      if (!r) byId.set(ref, r = make(null));
      if (prev && r !== prev && r.parent === null && !isAncestor(r, prev)) link(prev, r);
      prev = r;
    }
    // (1B) the last reference is the message's parent (a truncated References may have
    // linked it elsewhere: that link goes), unless it would make a loop.
    if (c.parent) {
      c.parent.children.delete(c);
      c.parent = null;
    }
    if (prev && !isAncestor(c, prev)) link(prev, c);
  }
  return all.filter((c) => c.parent === null);
}

/** Step 4: dummies without children go; others give their children to their parent. */
function pruneDummies(roots: Container[]): ThreadNode[] {
  const nodeOf = new Map<Container, ThreadNode>();
  const order: Container[] = [];
  const stack = [...roots];
  while (stack.length) {
    const c = stack.pop()!;
    order.push(c);
    for (const k of c.children) stack.push(k);
  }
  // Children before parents: each node's children are final when it is built.
  for (let i = order.length - 1; i >= 0; i--) {
    const c = order[i];
    const children: ThreadNode[] = [];
    for (const k of c.children) {
      const n = nodeOf.get(k)!;
      if (n.msg) children.push(n);
      else children.push(...n.children); // below the root a dummy always gives way
    }
    nodeOf.set(c, { msg: c.msg, children });
  }
  const out: ThreadNode[] = [];
  for (const c of roots) {
    const n = nodeOf.get(c)!;
    if (n.msg || n.children.length > 1) out.push(n);
    else if (n.children.length === 1) out.push(n.children[0]); // promoted to the root
  }
  return out;
}

/** Step 5: root threads with the same base subject are merged. */
function mergeSubjects(roots: ThreadNode[]): ThreadNode[] {
  const subjectOf = (n: ThreadNode): string => {
    if (n.msg) return n.msg.keys.subject;
    const first = [...n.children].sort(compareNodes)[0];
    return first?.msg?.keys.subject ?? "";
  };
  const isReply = (n: ThreadNode) => n.msg?.keys.reply ?? false;
  // (B) one thread per subject: a dummy wins, then a non-reply over a reply.
  const table = new Map<string, ThreadNode>();
  for (const n of roots) {
    const subject = subjectOf(n);
    if (subject === "") continue;
    const old = table.get(subject);
    if (!old) table.set(subject, n);
    else if (old.msg && (!n.msg || (isReply(old) && !isReply(n)))) table.set(subject, n);
  }
  // (C) merge the others into it. A message holding the table's place keeps its own
  // place among the roots (a new dummy takes that place when it is merged with another).
  const holders = new Set(table.values());
  const absorbed = new Set<ThreadNode>();
  const replaced = new Map<ThreadNode, ThreadNode>();
  for (const n of roots) {
    const subject = subjectOf(n);
    if (subject === "" || holders.has(n)) continue;
    const kept = table.get(subject)!;
    absorbed.add(n);
    if (!kept.msg && !n.msg) {
      kept.children.push(...n.children);
    } else if (!kept.msg || (isReply(n) && !isReply(kept))) {
      kept.children.push(n);
    } else {
      const dummy: ThreadNode = { msg: null, children: [kept, n] };
      table.set(subject, dummy);
      replaced.set(kept, dummy);
    }
  }
  return roots.filter((n) => !absorbed.has(n)).map((n) => replaced.get(n) ?? n);
}

/** The threads of `msgs` by the algorithm, siblings (and threads) in sent-date order. */
export function threadsOf(algorithm: ThreadAlgorithm, msgs: ThreadMessage[]): ThreadNode[] {
  if (algorithm === "ORDEREDSUBJECT") return orderedSubject(msgs);
  const roots = mergeSubjects(pruneDummies(linkReferences(msgs)));
  // Step 6: children first (a dummy sorts by its first child), then the roots.
  const nodes = preorder(roots);
  for (let i = nodes.length - 1; i >= 0; i--) nodes[i].children.sort(compareNodes);
  return roots.sort(compareNodes);
}

/**
 * The THREAD response data (RFC 5256 §4 thread-list): `(3 6 (4 23)(44 7 96))`; a dummy
 * root is `((3)(5))`. Built with an explicit stack.
 */
export function formatThreads(roots: ThreadNode[], num: (m: ThreadMessage) => number): string {
  let out = "";
  // Work items: a node to open, or text to append once its children are done.
  const stack: (ThreadNode | string)[] = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push(")", roots[i], "(");
  while (stack.length) {
    const item = stack.pop()!;
    if (typeof item === "string") {
      out += item;
      continue;
    }
    // A chain of only children is written flat: "a b c".
    let n = item;
    const parts: string[] = [];
    while (n.msg && n.children.length === 1) {
      parts.push(String(num(n.msg)));
      n = n.children[0];
    }
    if (n.msg) parts.push(String(num(n.msg)));
    out += parts.join(" ");
    if (n.children.length > 0) {
      if (parts.length) out += " ";
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(")", n.children[i], "(");
    }
  }
  return out;
}

async function threadCommand(s: Session, args: Args, uid: boolean) {
  const algorithm = args.atom("threading algorithm").toUpperCase();
  if (algorithm !== "ORDEREDSUBJECT" && algorithm !== "REFERENCES") {
    throw bad(`Unsupported threading algorithm ${algorithm.slice(0, 30)}`);
  }
  sortCharset(args);
  const key = parseSearchKeys(args.rest());
  if (someKey(key, (k) => k.op === "modseq")) s.enableCondstore();
  const view = s.view!;
  const items = await sortItemsOf(view, await runSearch(s, key));
  const msgs = items.map((it) => ({
    seq: it.seq,
    uid: it.uid,
    keys: it.keys,
    date: it.keys.sent ?? it.arrival,
  }));
  const threads = threadsOf(algorithm, msgs);
  const text = formatThreads(threads, (m) => uid ? m.uid : m.seq);
  s.out.text(`* THREAD${text ? " " + text : ""}\r\n`);
  return { text: "THREAD completed" };
}

const threadSpec: CommandSpec = {
  states: SELECTED,
  uid: true,
  noExpunge: true,
  run: (s, { args, uid }) => threadCommand(s, args, uid),
};

export const THREAD_COMMANDS: Record<string, CommandSpec> = {
  THREAD: threadSpec,
};
