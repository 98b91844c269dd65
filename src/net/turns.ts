/**
 * Fair turns of the one event loop for work that could go on for long (SPEC §7): pipelined
 * commands, a message streaming in. Deno hands every socket that has input to JavaScript
 * in one turn of its loop, so 100 clients each sending a message, each session feeding
 * its 64 KiB slice, made one turn of hundreds of milliseconds, and a slice limit per
 * session (5 ms each) did not bound the turn. The budget here is shared by every
 * session: work that asks turnSpent() stops once SLICE_MS of the turn is used, waits in
 * nextTurn() for the loop to go round (the sockets polled, idle sessions answered) and
 * then goes on, in the order it stopped.
 *
 * A turn's budget starts at its first turnSpent() and ends with the next timer phase
 * (a zero timeout: timers run after the turn's input callbacks). Not an immediate, though
 * it would cost less: while immediates keep coming, Deno 2.9 polls the sockets only every
 * few dozen of them (input waited 7-20 ms behind a chain of 0.2 ms ones), and bench
 * hostile's idle NOOPs under a flood of pipelined commands waited 400 ms.
 */

/** Milliseconds of long work per turn of the event loop, for all sessions together. */
export const SLICE_MS = 5;

/** performance.now() when this turn's budget started; -1: none started. */
let turnStart = -1;
/** A zero timeout is set: it ends the budget and resumes those waiting. */
let timerSet = false;
/** boundary() is resuming those waiting (under a budget of its own). */
let resuming = false;
const waiting: (() => void)[] = [];

function setBoundary(): void {
  if (timerSet) return;
  timerSet = true;
  setTimeout(boundary, 0);
}

/**
 * The loop went round: a new budget, and those waiting go on in order, one piece of work
 * each, for as long as it lasts; the rest wait for the next turn. Each one resumed runs
 * its piece (until its next await) before the next one is resumed.
 */
async function boundary(): Promise<void> {
  timerSet = false;
  turnStart = -1;
  if (waiting.length === 0) return;
  resuming = true;
  turnStart = performance.now();
  // Only those who were waiting when the turn began: one that asks again while resumed
  // waits for the next turn, even with budget left.
  for (let n = waiting.length; n > 0 && performance.now() - turnStart <= SLICE_MS; n--) {
    waiting.shift()!();
    await null;
  }
  resuming = false;
  if (waiting.length > 0) setBoundary();
}

/**
 * True when long work has used this turn's budget: the caller should `await nextTurn()`
 * before its next piece. The first call of a turn starts the budget (and returns false).
 */
export function turnSpent(): boolean {
  const now = performance.now();
  if (turnStart < 0 || !(timerSet || resuming)) {
    turnStart = now;
    setBoundary();
    return false;
  }
  return now - turnStart > SLICE_MS;
}

/**
 * Resolves in a later turn of the event loop, after those who asked before; the caller
 * then does one piece of its work without asking turnSpent() again.
 */
export function nextTurn(): Promise<void> {
  if (!resuming) setBoundary();
  return new Promise<void>((resolve) => waiting.push(resolve));
}
