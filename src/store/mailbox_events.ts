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

/**
 * Listeners by key (a Maildir root, a folder path), each told of the events of its key;
 * one listener's failure is its own. MailboxEvents below, and MailStore.watch.
 */
export class KeyedListeners<E> {
  readonly #listeners = new Map<string, Set<(event: E) => void>>();

  /** Calls `listener` for every event of `key`; returns the unsubscribe. */
  subscribe(key: string, listener: (event: E) => void): () => void {
    let set = this.#listeners.get(key);
    if (!set) this.#listeners.set(key, set = new Set());
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.#listeners.delete(key);
    };
  }

  emit(key: string, event: E): void {
    for (const l of this.#listeners.get(key) ?? []) {
      try {
        l(event);
      } catch { /* a listener's failure is its own */ }
    }
  }
}

/** Mailbox events by Maildir root: subscribe(root, listener), emit(root, event). */
export class MailboxEvents extends KeyedListeners<MailboxEvent> {}
