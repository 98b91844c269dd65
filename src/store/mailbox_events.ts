/**
 * Changes to a user's set of mailboxes and their attributes, for sessions that report
 * them as they happen (IMAP NOTIFY, RFC 5465 §5.4-5.6): mailboxes created, deleted or
 * renamed (emitted by MailStore itself), subscriptions and METADATA entries changed
 * (emitted by the IMAP commands that change them). Message changes inside a folder are
 * MailStore.watch's business. Only changes made by this process are seen.
 */

export type MailboxEvent =
  | { kind: "created"; name: string }
  | { kind: "deleted"; name: string }
  | { kind: "renamed"; from: string; to: string }
  | { kind: "subscription"; name: string; subscribed: boolean }
  /** `mailbox` "" is the server's entries. */
  | { kind: "metadata"; mailbox: string; entries: string[] };

type Listener = (event: MailboxEvent) => void;

export class MailboxEvents {
  readonly #listeners = new Map<string, Set<Listener>>();

  /** Calls `listener` for every event of the Maildir root `root`; returns the unsubscribe. */
  subscribe(root: string, listener: Listener): () => void {
    let set = this.#listeners.get(root);
    if (!set) this.#listeners.set(root, set = new Set());
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.#listeners.delete(root);
    };
  }

  emit(root: string, event: MailboxEvent): void {
    for (const l of this.#listeners.get(root) ?? []) {
      try {
        l(event);
      } catch { /* a listener's failure is its own */ }
    }
  }
}
