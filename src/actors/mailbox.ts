// A serial mailbox: tasks run one at a time in arrival order; a task that returns a promise
// holds the mailbox until it settles. This is what makes an actor's state safe without locks.
//
// A task given to an idle mailbox runs at once, in the caller's stack, rather than in a later
// microtask: most tasks (a message to deliver with no gap, a send to a quiet conversation) are
// synchronous, and this way they cost no queue entry and no promise. Order is unchanged: a task
// enqueued while another runs, or from inside a running task, waits for its turn.
//
// An actor extends its mailbox rather than holding one: a user actor lives as long as its user
// has a connection, and a mailbox of its own was one more object on every idle connection.

export type Task = () => void | Promise<void>;

// Nothing here is allocated until it is needed: a user actor's mailbox (one per connected user)
// mostly runs its tasks at once and never queues.
export abstract class Mailbox {
  private queue: Task[] | null = null;
  private head = 0;
  private running = false;
  private idleWaiters: (() => void)[] | null = null;

  /** Hears what a task threw; the mailbox goes on with the next task. */
  protected abstract mailboxFailed(err: unknown): void;

  /** Tasks queued or running. */
  get tasks(): number {
    return (this.queue ? this.queue.length - this.head : 0) + (this.running ? 1 : 0);
  }

  enqueue(task: Task): void {
    if (this.running) {
      (this.queue ??= []).push(task);
      return;
    }
    this.running = true;
    if (!this.runOne(task)) this.drain();
  }

  /** Runs `fn` in the mailbox and resolves with its result. */
  call<T>(fn: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue(async () => {
        try {
          resolve(await fn());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Resolves when the mailbox has nothing queued or running. */
  mailboxEmpty(): Promise<void> {
    if (this.tasks === 0) return Promise.resolve();
    return new Promise((r) => (this.idleWaiters ??= []).push(r));
  }

  /** Runs one task; true when it returned a promise, which then continues the mailbox when it settles. */
  private runOne(task: Task): boolean {
    let r: void | Promise<void>;
    try {
      r = task();
    } catch (e) {
      this.mailboxFailed(e);
      return false;
    }
    if (!r) return false;
    r.then(
      () => this.drain(),
      (e: unknown) => {
        this.mailboxFailed(e);
        this.drain();
      },
    );
    return true;
  }

  /** Runs queued tasks until one is asynchronous (it resumes the drain) or none are left. */
  private drain(): void {
    const queue = this.queue;
    while (queue && this.head < queue.length) {
      const task = queue[this.head]!;
      queue[this.head++] = undefined as unknown as Task;
      if (this.head > 1024 && this.head * 2 > queue.length) {
        queue.splice(0, this.head);
        this.head = 0;
      }
      if (this.runOne(task)) return;
    }
    this.queue = null;
    this.head = 0;
    this.running = false;
    const waiters = this.idleWaiters;
    if (!waiters) return;
    this.idleWaiters = null;
    for (const w of waiters) w();
  }
}
