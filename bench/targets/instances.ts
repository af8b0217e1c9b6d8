// Starts N instances of a server, instance i on 127.0.0.(i+1) and a free port, waits until each
// accepts connections, and stops them all together. A server that dies is reported with the
// tail of its stderr.

import type { Subprocess } from "bun";
import { spawnChild, stopChild } from "../lib/children.ts";
import { freePort } from "../../test/helpers/services/common.ts";
import { loopbackHost, waitForPort } from "../lib/net.ts";
import type { RunningTarget, StartOptions, TargetAccess } from "./types.ts";

const STDERR_TAIL_BYTES = 4096;
const START_TIMEOUT_MS = 30_000;

export interface InstanceCommand {
  cmd: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** The WebSocket URL clients of this instance connect to. */
  url: string;
}

export async function startInstances(
  opts: StartOptions,
  command: (host: string, port: number, index: number) => InstanceCommand | Promise<InstanceCommand>,
  access: (endpoints: string[]) => TargetAccess,
): Promise<RunningTarget> {
  const procs: Subprocess[] = [];
  const endpoints: string[] = [];
  const stopAll = () => Promise.all(procs.map((p) => stopChild(p))).then(() => {});
  try {
    for (let i = 0; i < opts.instances; i++) {
      const host = loopbackHost(i);
      const port = await freePort(host);
      const c = await command(host, port, i);
      const proc = spawnChild([...opts.pin, ...c.cmd], {
        cwd: c.cwd,
        env: { ...process.env, ...c.env },
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      });
      procs.push(proc);
      const tail = keepTail(proc.stderr as ReadableStream<Uint8Array>);
      try {
        await waitForPort(host, port, START_TIMEOUT_MS, proc.exited);
      } catch (e) {
        throw new Error(`${c.cmd.join(" ")}: ${(e as Error).message}\n${tail()}`);
      }
      endpoints.push(c.url);
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return { access: access(endpoints), pids: procs.map((p) => p.pid), stop: stopAll };
}

/** Drains a stream (a full pipe would block the server) and keeps its last bytes for errors. */
function keepTail(stream: ReadableStream<Uint8Array>): () => string {
  let tail = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of stream) tail = (tail + decoder.decode(chunk)).slice(-STDERR_TAIL_BYTES);
  })().catch(() => {});
  return () => tail;
}
