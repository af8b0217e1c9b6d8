#!/usr/bin/env node
// The `msgr` executable (package.json "bin"). The CLI is TypeScript run by Bun, and `npm ci`
// installs Bun into node_modules without putting it on PATH, so this launcher, run by Node,
// starts node_modules' bun on src/cli/main.ts with the same arguments, terminal and exit code.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
let bun;
try {
  // The bun package keeps its binary in bin/ (bun.exe on every platform).
  bun = join(dirname(createRequire(import.meta.url).resolve("bun/package.json")), "bin", "bun.exe");
} catch {
  console.error(`msgr: Bun is not installed in ${root}/node_modules: run \`npm ci\` there first`);
  process.exit(1);
}

const child = spawn(bun, [join(root, "src/cli/main.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
child.on("error", (e) => {
  console.error(`msgr: cannot run ${bun}: ${e.message} (run \`npm ci\` in ${root})`);
  process.exit(1);
});
// Ctrl-C reaches the whole foreground process group, Bun included: forwarding it as well would
// be a second signal, which makes the server skip its drain. Signals sent to this process alone
// (systemd, kill, npm exec) are passed on.
process.on("SIGINT", () => {});
for (const signal of ["SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  process.exitCode = code ?? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGKILL: 9 }[signal] ?? 1);
});
