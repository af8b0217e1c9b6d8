// Work deferred to the end of the event loop's turn: what the turn's I/O callbacks (every socket
// read in it) queued is done once, together, after them: the SQLite group commit and the
// receipts' cursor writes, whose results the edge writes to sockets in that same turn.
// Batches whose results nothing writes in the turn use setImmediate directly: the connections'
// registrations (sqlite/connect-writer.ts: nothing waits on them) and PostgreSQL's group commit
// (its acks come back with a later turn's I/O).
//
// The edge writes each socket's frames once per turn (src/edge/flusher.ts), and wants that write
// to carry what this work produces (a commit's acks and deliveries): its flush must be queued
// behind the work. Bun, like Node, runs an immediate queued while immediates run (or by their
// promises) only after the next poll, so a flush queued once the commit's deliveries ask for it
// would wait for the next turn's reads. The count below lets the edge queue its flush behind the
// work instead, as soon as a frame has queued some.

let queued = 0;

/** Runs `fn` after this turn's I/O callbacks (setImmediate), counted for turnEndsQueued(). */
export function atTurnEnd(fn: () => void): void {
  queued++;
  setImmediate(fn);
}

/** How many atTurnEnd tasks were queued so far, in this process: an immediate queued after reading N runs after those N. */
export function turnEndsQueued(): number {
  return queued;
}
