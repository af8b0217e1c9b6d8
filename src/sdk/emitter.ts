// A small typed event emitter that works in Bun and browsers alike.
//
// Each event's handlers are an array replaced (not changed) when one is added or removed, so an
// emit loops over the array as it was when the emit began, with nothing to copy: the client emits
// once per message received, and copying a Set of handlers each time was a twentieth of what a
// client spends on a message.

type Handler = (payload: never) => void;

export class Emitter<Events extends Record<string, unknown>> {
  private readonly handlers = new Map<keyof Events, readonly Handler[]>();

  /** Adds `fn` (once: adding it again changes nothing); returns what removes it. */
  on<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): () => void {
    const h = fn as Handler;
    const list = this.handlers.get(event) ?? [];
    if (!list.includes(h)) this.handlers.set(event, [...list, h]);
    return () => {
      const now = this.handlers.get(event);
      if (!now?.includes(h)) return;
      if (now.length === 1) this.handlers.delete(event);
      else this.handlers.set(event, now.filter((x) => x !== h));
    };
  }

  once<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): () => void {
    const off = this.on(event, (p) => {
      off();
      fn(p);
    });
    return off;
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const list = this.handlers.get(event);
    if (!list) return;
    // Handlers added or removed by a handler take effect from the next emit.
    for (const fn of list) (fn as (p: Events[K]) => void)(payload);
  }
}
