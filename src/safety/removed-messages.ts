// Messages removed, as the node serves them: a tombstone (kind Removed, empty body, no media)
// wherever the message would be read: resume backlogs, HISTORY, re-announcements. The one record
// of removals for both ways a message goes: moderation (the admin API), whose original row stays
// in the message store for the moderators until retention prunes it (as Matrix servers keep
// redacted events for a while), and deletion for everyone (DELETE), which also erases the row
// (src/lifecycle/removal.ts). Either way it is never served again, nor is its media.
//
// The set of conversations that have removals is loaded at start; each one's removed seqs are
// loaded the first time it is read, and kept current by the "removed" events every node hears on
// the safety subject. A conversation with no removals costs a set lookup per read.

import type { MessageRemovedEvent } from "../bus/events.ts";
import { MessageKind } from "../proto/codes.ts";
import type { ModerationStore } from "../storage/safety-types.ts";
import type { StoredMessage } from "../storage/types.ts";
import { BoundedMap } from "../bounded-map.ts";

/** Conversations whose removed seqs one node keeps loaded; the least recently used are reloaded on use. */
const MAX_LOADED = 10_000;

interface Removals {
  seqs: Set<number>;
  media: Set<string>;
}

/** What a removed message reads as: its place, sender and expiry stay, its content (body, media, reference, edit) is gone. */
export function tombstone(m: StoredMessage): StoredMessage {
  const { media: _media, ref: _ref, edited: _edited, ...rest } = m;
  return { ...rest, kind: MessageKind.Removed, body: new Uint8Array(0) };
}

export class RemovedMessages {
  private convs = new Set<string>();
  private loaded = new BoundedMap<string, Promise<Removals>>(MAX_LOADED);

  constructor(private readonly store: ModerationStore) {}

  async start(): Promise<void> {
    this.convs = new Set(await this.store.conversationsWithRemovals());
  }

  /** After a bus outage: removals may have been missed, so everything is read again. */
  reset(): void {
    this.loaded.clear();
    void this.start().catch(() => {
      // The next reset or start tries again; meanwhile the known set stays.
    });
  }

  /** A removal heard on the bus (from any node, this one included). */
  heard(e: MessageRemovedEvent): void {
    this.convs.add(e.conv);
    const p = this.loaded.get(e.conv);
    if (p) {
      void p.then((r) => {
        r.seqs.add(e.seq);
        if (e.media) r.media.add(e.media);
      });
    }
  }

  private removals(conv: string): Promise<Removals> | null {
    if (!this.convs.has(conv)) return null;
    let p = this.loaded.touch(conv);
    if (p) return p;
    p = this.store.removedIn(conv).then((rows) => ({ seqs: new Set(rows.map((r) => r.seq)), media: new Set(rows.flatMap((r) => (r.media ? [r.media] : []))) }));
    p.catch(() => this.loaded.delete(conv));
    this.loaded.set(conv, p);
    return p;
  }

  /** The seqs of `conv` whose messages were removed; null when it has none. */
  async seqs(conv: string): Promise<ReadonlySet<number> | null> {
    const p = this.removals(conv);
    return p ? (await p).seqs : null;
  }

  /** Whether `media` was carried by a removed message of `conv`. */
  async isRemovedMedia(conv: string, media: string): Promise<boolean> {
    const p = this.removals(conv);
    return p ? (await p).media.has(media) : false;
  }
}
