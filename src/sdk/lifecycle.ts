// What a client keeps of one conversation once edits, reactions, deletions, "delete for me" and
// disappearing messages apply (docs/protocol.md §7.6): a pure model, fed the messages in seq
// order as the Client emits them. Nothing here touches the network or a clock of its own.

import { MessageKind, SystemOp } from "../proto/codes.ts";
import { unpack } from "../proto/codec.ts";
import type { SystemEvent, WireMessage } from "../proto/types.ts";

const EMPTY = new Uint8Array(0);

/** A message as the conversation shows it now. */
export interface ShownMessage extends WireMessage {
  /** Each member's current reaction to it (the latest they sent; removed ones are gone). */
  reactions: Map<string, Uint8Array>;
}

/** What became of a message that is gone: it keeps its place, sender and time. */
function removed(m: ShownMessage): ShownMessage {
  return { conv: m.conv, seq: m.seq, id: m.id, from: m.from, dev: m.dev, cid: m.cid, kind: MessageKind.Removed, body: EMPTY, ts: m.ts, reactions: new Map() };
}

export class ConversationMessages {
  /** Content messages by seq (edits and reactions are applied to their targets, not kept). */
  readonly bySeq = new Map<number, ShownMessage>();

  /**
   * Applies the next message of the conversation; returns the seqs whose display changed: the
   * message itself when it is shown, or the message an edit, a reaction or a removal is about.
   */
  apply(m: WireMessage): number[] {
    switch (m.kind) {
      case MessageKind.Edit: {
        const target = m.ref === undefined ? undefined : this.bySeq.get(m.ref);
        // A target already carrying a later version (read back from history) stays as it is.
        if (!target || target.kind === MessageKind.Removed || (target.edited ?? 0) > m.ts) return [];
        this.bySeq.set(target.seq, { ...target, body: m.body, edited: m.ts });
        return [target.seq];
      }
      case MessageKind.Reaction: {
        const target = m.ref === undefined ? undefined : this.bySeq.get(m.ref);
        if (!target || target.kind === MessageKind.Removed) return [];
        if (m.body.length === 0) target.reactions.delete(m.from);
        else target.reactions.set(m.from, m.body);
        return [target.seq];
      }
      case MessageKind.System: {
        this.bySeq.set(m.seq, { ...m, reactions: new Map() });
        const ev = decodeEvent(m.body);
        if (ev?.op === SystemOp.MessageRemoved && ev.ref !== undefined && this.remove([ev.ref]).length > 0) return [m.seq, ev.ref];
        return [m.seq];
      }
      default:
        this.bySeq.set(m.seq, { ...m, reactions: this.bySeq.get(m.seq)?.reactions ?? new Map() });
        return [m.seq];
    }
  }

  /** Turns messages into tombstones (deleted for everyone, hidden for me); returns those that changed. */
  remove(seqs: number[]): number[] {
    const out: number[] = [];
    for (const seq of seqs) {
      const m = this.bySeq.get(seq);
      if (!m || m.kind === MessageKind.Removed || m.kind === MessageKind.System) continue;
      this.bySeq.set(seq, removed(m));
      out.push(seq);
    }
    return out;
  }

  /** Disappearing messages whose time has come at `now` (ms) become tombstones; returns their seqs. */
  expire(now: number): number[] {
    const due: number[] = [];
    for (const m of this.bySeq.values()) if (m.exp !== undefined && m.exp <= now && m.kind !== MessageKind.Removed) due.push(m.seq);
    return this.remove(due);
  }

  /** The earliest expiry still ahead, to set a timer for; undefined when none. */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const m of this.bySeq.values()) if (m.exp !== undefined && m.kind !== MessageKind.Removed && (next === undefined || m.exp < next)) next = m.exp;
    return next;
  }
}

function decodeEvent(body: Uint8Array): SystemEvent | null {
  try {
    const v = unpack(body) as Partial<SystemEvent> | null;
    return v && typeof v === "object" && typeof v.op === "number" ? (v as SystemEvent) : null;
  } catch {
    return null;
  }
}
