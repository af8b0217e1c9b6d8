// The terminal client as a user runs it: a `msgr chat` process against a test server, typed into
// through stdin, its output read back (NO_COLOR, no TTY: plain lines).

import type { Harness } from "./harness.ts";

/** A `msgr chat` process: type lines into it, wait for text to appear in what it printed. */
export function chatProcess(h: Harness, user: string) {
  const proc = Bun.spawn([process.execPath, "src/cli/main.ts", "chat", "--user", user, "--device", `${user}-term`, "--url", h.server.wsUrl], {
    cwd: `${import.meta.dir}/../..`,
    env: { ...process.env, MSGR_SERVER_DATA_DIR: h.dataDir, NO_COLOR: "1" },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const waiters = new Set<() => void>();
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      out += decoder.decode(chunk);
      for (const w of waiters) w();
    }
  })();
  return {
    proc,
    type(line: string) {
      proc.stdin.write(`${line}\n`);
      proc.stdin.flush();
    },
    /** Resolves when the output (from `from` on) contains `text`; returns where it ends. */
    async printed(text: string, from = 0, ms = 10_000): Promise<number> {
      const end = Date.now() + ms;
      while (out.indexOf(text, from) < 0) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${JSON.stringify(text)}; output:\n${out}`);
        // Woken by new output; the timer only lets the deadline be checked.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, 200);
          function done() {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          }
          waiters.add(done);
        });
      }
      return out.indexOf(text, from) + text.length;
    },
    /** Everything printed so far. */
    output: () => out,
  };
}

export type ChatProcess = ReturnType<typeof chatProcess>;
