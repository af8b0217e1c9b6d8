// The orchestrator's handle on one generator process (generator/main.ts): starts it pinned to
// the generator cores, runs workload steps on it with a time limit each, and forwards its
// progress counters.

import type { Subprocess } from "bun";
import type { Counters, GeneratorMessage, InitParams } from "../generator/protocol.ts";
import { spawnChild, stopChild } from "./children.ts";

const MAIN = new URL("../generator/main.ts", import.meta.url).pathname;

export class GeneratorProcess {
  counters: Counters = { sent: 0, delivered: 0 };
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly proc: Subprocess;

  private constructor(pin: string[], onProgress: () => void) {
    this.proc = spawnChild([...pin, process.execPath, MAIN], {
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
      ipc: (m: GeneratorMessage) => {
        if ("progress" in m) {
          this.counters = m.progress;
          onProgress();
          return;
        }
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(new Error(`generator: ${m.error}`));
      },
    });
    void this.proc.exited.then((code) => {
      for (const p of this.pending.values()) p.reject(new Error(`generator exited (${code}) during a step`));
      this.pending.clear();
    });
  }

  static async start(pin: string[], init: InitParams, onProgress: () => void): Promise<GeneratorProcess> {
    const g = new GeneratorProcess(pin, onProgress);
    await g.call("init", init, 60_000);
    return g;
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** Runs one step; rejects if it fails or takes longer than `timeoutMs`. */
  call<T>(step: string, params: unknown, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`generator step "${step}" took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, step, params });
    });
  }

  stop(): Promise<void> {
    return stopChild(this.proc, 2_000);
  }
}
