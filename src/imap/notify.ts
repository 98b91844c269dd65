/**
 * NOTIFY (RFC 5465): a session asks to be told of changes as they happen, in the
 * selected mailbox (SELECTED / SELECTED-DELAYED: EXISTS, EXPUNGE, FETCH) and in others
 * (STATUS for messages added, expunged or flagged; LIST for mailboxes created, deleted
 * or renamed and for subscriptions; METADATA for changed entries).
 *
 * Where events come from: MailStore.watch for every folder of the user (deliveries,
 * appends, copies, moves, expunges, flag changes made by this process) and
 * MailStore.events for the mailbox list, subscriptions and metadata. Changes made by
 * other programs are seen in the selected mailbox by polling (NOOP, IDLE), not here.
 *
 * When they are sent (§3, §4): between commands at once (never inside a command or
 * its literal; the session waits for a delivery in progress before running the next
 * command), during IDLE through IDLE's own loop, and otherwise just before the next
 * tagged response. Changes this session makes itself to the mailbox list,
 * subscriptions and metadata are not echoed back (its command's reply says so).
 * Too many undelivered notifications end in NOTIFICATIONOVERFLOW and NOTIFY NONE (§3.1).
 */
import type { MailboxEvent } from "../store/mailbox_events.ts";
import { wireName } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";
import type { FetchItem } from "./fetch_items.ts";
import { renderUnsolicited } from "./fetch_render.ts";
import type { MailboxView } from "./view.ts";
import { filterMatches, type NotifySpec, parseNotify } from "./notify_parse.ts";
import type { Session } from "./session.ts";
import { statusResponse } from "./status.ts";
import { readSubscriptions } from "./subscriptions.ts";

/** Undelivered notifications past this end in NOTIFICATIONOVERFLOW. */
const MAX_PENDING = 1000;

export class Notifier {
  readonly #s: Session;
  readonly #spec: NotifySpec;
  readonly #unsubscribe: (() => void)[] = [];
  /** Folder path -> [mailbox name, unwatch]. */
  readonly #watched = new Map<string, [string, () => void]>();
  #subscribed = new Set<string>();
  readonly #pendingStatus = new Set<string>();
  readonly #pendingLines: string[] = [];
  /** What the last STATUS of a mailbox said, so unchanged ones are not repeated. */
  readonly #lastStatus = new Map<string, string>();
  #selectedDirty = false;
  /** The selected mailbox as last seen, and its highest UID then (MessageNew's FETCH). */
  #view: MailboxView | null = null;
  #seenUid = 0;
  #delivering: Promise<void> | null = null;
  #closed = false;
  /** Set by IDLE while it runs: its loop then delivers (deliver("idle")). */
  wake: (() => void) | null = null;

  private constructor(s: Session, spec: NotifySpec) {
    this.#s = s;
    this.#spec = spec;
  }

  /** Starts following `spec`; with STATUS (§3.1) the mailboxes' states are queued now. */
  static async start(s: Session, spec: NotifySpec): Promise<Notifier> {
    const n = new Notifier(s, spec);
    n.#subscribed = new Set(await readSubscriptions(s.root));
    for (const name of await s.ctx.store.listFolders(s.root)) n.#watch(name);
    n.#unsubscribe.push(s.ctx.store.events.subscribe(s.root, (e) => n.#onMailboxEvent(e)));
    for (const [, [name]] of n.#watched) {
      if (!n.#wants(name, "MessageNew") || n.#isSelected(name)) continue;
      const line = await n.#status(name);
      if (line && spec.status) n.#pendingLines.push(line);
    }
    return n;
  }

  close(): void {
    this.#closed = true;
    for (const u of this.#unsubscribe.splice(0)) u();
    for (const [, [, unwatch]] of this.#watched) unwatch();
    this.#watched.clear();
    this.wake = null;
  }

  /** Resolves when no delivery is under way (the session runs its next command then). */
  async settled(): Promise<void> {
    while (this.#delivering) await this.#delivering;
  }

  #isSelected(name: string): boolean {
    const v = this.#s.view;
    return v !== null && this.#s.state === "selected" && v.name === name;
  }

  /** Whether some group covering `name` asks for `event`. */
  #wants(name: string, event: string): boolean {
    return this.#spec.groups.some((g) =>
      g.events.has(event) && filterMatches(g.filter, name, this.#subscribed)
    );
  }

  #watch(name: string): void {
    const store = this.#s.ctx.store;
    const path = store.folderPath(this.#s.root, name);
    if (this.#watched.has(path)) return;
    const unwatch = store.watch(path, () => this.#onFolderChange(path));
    this.#watched.set(path, [name, unwatch]);
  }

  #unwatch(name: string): void {
    for (const [path, [n, unwatch]] of this.#watched) {
      if (n === name || n.startsWith(name + "/")) {
        unwatch();
        this.#watched.delete(path);
        this.#lastStatus.delete(n);
      }
    }
  }

  #onFolderChange(path: string): void {
    const name = this.#watched.get(path)?.[0];
    if (name === undefined || this.#closed) return;
    if (this.#s.view?.folder.path === path && this.#s.state === "selected") {
      if (!this.#spec.selected) return;
      this.#selectedDirty = true;
    } else if (this.#wants(name, "MessageNew")) {
      this.#pendingStatus.add(name);
    } else return;
    this.#schedule();
  }

  #onMailboxEvent(e: MailboxEvent): void {
    if (this.#closed) return;
    // The session's own change: its command's reply tells the client.
    const own = this.#s.busy && !this.#s.idling;
    const s = this.#s;
    const line = (attrs: string, name: string, extra = "") =>
      this.#pendingLines.push(`* LIST (${attrs}) "/" ${wireName(s, name)}${extra}\r\n`);
    switch (e.kind) {
      case "created":
        this.#watch(e.name);
        if (!own && this.#wants(e.name, "MailboxName")) line("", e.name);
        break;
      case "deleted":
        this.#unwatch(e.name);
        if (!own && this.#wants(e.name, "MailboxName")) line("\\NonExistent", e.name);
        break;
      case "renamed":
        this.#unwatch(e.from);
        // Children moved too: watch the new names once the list is read again.
        void s.ctx.store.listFolders(s.root).then((names) => {
          for (const n of names) if (n === e.to || n.startsWith(e.to + "/")) this.#watch(n);
        }).catch(() => {});
        if (!own && (this.#wants(e.from, "MailboxName") || this.#wants(e.to, "MailboxName"))) {
          line("", e.to, ` ("OLDNAME" (${wireName(s, e.from)}))`);
        }
        break;
      case "subscription":
        if (e.subscribed) this.#subscribed.add(e.name);
        else this.#subscribed.delete(e.name);
        if (!own && this.#wants(e.name, "SubscriptionChange")) {
          line(e.subscribed ? "\\Subscribed" : "", e.name);
        }
        break;
      case "metadata": {
        const server = e.mailbox === "";
        const wanted = server
          ? this.#spec.groups.some((g) => g.events.has("ServerMetadataChange"))
          : this.#wants(e.mailbox, "MailboxMetadataChange");
        if (!own && wanted) {
          const box = server ? '""' : wireName(s, e.mailbox);
          this.#pendingLines.push(`* METADATA ${box} (${e.entries.join(" ")})\r\n`);
        }
        break;
      }
    }
    this.#schedule();
  }

  /** Delivers what is pending if the session is between commands (after each command). */
  poke(): void {
    this.#schedule();
  }

  /** Delivers now if the session is between commands; IDLE is woken; else it waits. */
  #schedule(): void {
    const s = this.#s;
    if (this.#closed || this.#empty()) return;
    if (s.idling) {
      this.wake?.();
      return;
    }
    if (!s.between || this.#delivering) return;
    this.#delivering = (async () => {
      try {
        await this.deliver("between");
        await s.out.flush();
      } catch (e) {
        s.log.error(`notification failed: ${(e as Error)?.stack ?? e}`);
      } finally {
        this.#delivering = null;
      }
      // Something arrived meanwhile.
      if (!this.#empty()) this.#schedule();
    })();
  }

  #empty(): boolean {
    return !this.#selectedDirty && this.#pendingStatus.size === 0 &&
      this.#pendingLines.length === 0;
  }

  /**
   * Writes what is pending to the session's output. "between": no command runs, so the
   * selected mailbox is brought up to date here (expunges held back for
   * SELECTED-DELAYED); "idle": IDLE's turn (expunges allowed); "command": the command's
   * own updates were just sent, only other mailboxes' news is added.
   */
  async deliver(mode: "between" | "idle" | "command"): Promise<void> {
    const s = this.#s;
    if (this.#closed) return;
    if (this.#pendingLines.length + this.#pendingStatus.size > MAX_PENDING) return this.#overflow();
    const selected = this.#spec.selected;
    // A newly selected mailbox: what it holds now is not news.
    if (s.view !== this.#view) {
      this.#view = s.view;
      this.#seenUid = s.view?.lastUid ?? 0;
    }
    if (mode === "command") this.#selectedDirty = false;
    else if (mode === "idle" || this.#selectedDirty) {
      this.#selectedDirty = false;
      await s.sendUpdates(mode === "idle" || !selected?.delayed);
    }
    // §5.2: a FETCH follows the EXISTS of new messages, whoever sent that EXISTS.
    const view = s.view;
    if (view && view === this.#view && view.lastUid > this.#seenUid) {
      if (selected?.fetch) await this.#fetchNew(this.#seenUid, selected.fetch);
      this.#seenUid = view.lastUid;
    }
    // RFC 5465 §5.2, §7: search context updates follow the EXISTS and FETCH they concern
    // (after a command, the session sends them itself once this returns).
    if (mode !== "command") await s.sendSearchUpdates();
    for (const line of this.#pendingLines.splice(0)) s.out.text(line);
    for (const name of [...this.#pendingStatus]) {
      this.#pendingStatus.delete(name);
      if (this.#isSelected(name)) continue;
      const line = await this.#status(name);
      if (line) s.out.text(line);
    }
  }

  /** §5.2: the fetch-atts of MessageNew, for the messages above UID `after`. */
  async #fetchNew(after: number, items: FetchItem[]): Promise<void> {
    const view = this.#s.view!;
    const first = view.seqOf(view.select([{ from: after + 1, to: Infinity }], true)[0]?.[1] ?? 0);
    const msgs: [number, number][] = [];
    for (let seq = first || view.exists + 1; seq <= view.exists; seq++) {
      msgs.push([seq, view.uids[seq - 1]]);
    }
    await renderUnsolicited(this.#s, items, msgs);
  }

  /**
   * A STATUS response for a mailbox that is not selected, or null when nothing it would
   * report changed since the last one (§5.1-5.3: MESSAGES, UIDNEXT, UIDVALIDITY; UNSEEN
   * with FlagChange; HIGHESTMODSEQ once CONDSTORE is on).
   */
  async #status(name: string): Promise<string | null> {
    const s = this.#s;
    let folder;
    try {
      folder = await s.ctx.store.openFolder(s.root, name);
    } catch {
      folder = null;
    }
    if (!folder) return null;
    await folder.refresh();
    const items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"];
    if (this.#wants(name, "FlagChange")) items.push("UNSEEN");
    if (s.condstore) items.push("HIGHESTMODSEQ");
    const line = await statusResponse(s, name, folder, items);
    if (this.#lastStatus.get(name) === line) return null;
    this.#lastStatus.set(name, line);
    return line;
  }

  #overflow(): void {
    this.#pendingLines.length = 0;
    this.#pendingStatus.clear();
    this.#s.out.text("* OK [NOTIFICATIONOVERFLOW] Too many notifications; NOTIFY is off\r\n");
    this.close();
    this.#s.notifier = null;
  }
}

const notifyCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const spec = parseNotify(args.rest(), s.utf8);
    s.notifier?.close();
    s.notifier = null;
    if (spec) s.notifier = await Notifier.start(s, spec);
    return { text: "NOTIFY completed" };
  },
};

export const NOTIFY_COMMANDS: Record<string, CommandSpec> = {
  NOTIFY: notifyCommand,
};
