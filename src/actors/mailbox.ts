// A serial mailbox: tasks run one at a time in arrival order; a task that returns a promise
// holds the mailbox until it settles. This is what makes an actor's state safe without locks.

export type Task = () => void | Promise<void>;

export class Mailbox {
  private queue: Task[] = [];
  private head = 0;
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly onError: (err: unknown) => void) {}

  get size(): number {
    return this.queue.length - this.head + (this.running ? 1 : 0);
  }

  enqueue(task: Task): void {
    this.queue.push(task);
    if (!this.running) void this.run();
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
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.head < this.queue.length) {
      const task = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Task;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      try {
        const r = task();
        if (r) await r;
      } catch (e) {
        this.onError(e);
      }
    }
    this.queue = [];
    this.head = 0;
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
