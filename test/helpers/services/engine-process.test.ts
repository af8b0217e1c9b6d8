// The engines the helpers start outlive a test that times out: bun test then SIGTERMs every
// process the file spawned (see engine-process.ts), and before the shield the later tests of the
// file lost their engines.

import { expect, test } from "bun:test";
import { spawn } from "bun";

const ROOT = new URL("../../..", import.meta.url).pathname;

test("a timed-out test leaves the engines of beforeAll running for the tests after it", async () => {
  const proc = spawn([process.execPath, "test", "--timeout", "60000", "./test/helpers/services/engine-timeout.fixture.ts"], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const output = out + err;
  expect(output).toContain("(fail) a test that times out");
  expect(output).toContain("(pass) the engine started before it still answers");
  expect(output).toMatch(/1 pass\s+1 fail/);
  expect(code).toBe(1);
}, 120_000);
