// A value an embedded backend has at hand, or a promise of it from a networked one.
//
// bun:sqlite answers in the caller's turn; PostgreSQL and Redis answer later. Where a caller must
// stay in its turn when it can (the WebSocket upgrade: Bun's `server.upgrade` after an `await`
// costs several times a synchronous one), an interface returns MaybeAsync and the caller chains
// with `then` below instead of awaiting. Everywhere else `await` takes either form.

export type MaybeAsync<T> = T | Promise<T>;

/** `next(value)` now when the value is at hand, or once its promise resolves. */
export function then<T, U>(value: MaybeAsync<T>, next: (v: T) => MaybeAsync<U>): MaybeAsync<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}
