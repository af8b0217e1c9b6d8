// A load generator process. The orchestrator (bench/run.ts) starts it pinned to the generator
// cores, sends "init" with the workload and the target to drive, then one step at a time; this
// process answers each step with its result and reports its counters four times a second.
// It exits when the orchestrator goes away (the IPC channel closes), so it never outlives a run.

import { adapterFor } from "../adapters/index.ts";
import type { Counters, GeneratorMessage, InitParams, StepRequest, Workload } from "./protocol.ts";
import { connectionsWorkload } from "./workloads/connections.ts";
import { directWorkload } from "./workloads/direct.ts";
import { groupWorkload } from "./workloads/group.ts";
import { resumeWorkload } from "./workloads/resume.ts";

const PROGRESS_MS = 250;

const counters: Counters = { sent: 0, delivered: 0 };
let workload: Workload | null = null;

async function create({ workload: name, access }: InitParams): Promise<Workload> {
  if (name === "resume") return resumeWorkload(access, counters);
  const adapter = await adapterFor(access);
  switch (name) {
    case "direct":
      return directWorkload(adapter, access, counters);
    case "group":
      return groupWorkload(adapter, access, counters);
    case "connections":
      return connectionsWorkload(adapter, access, counters);
  }
}

async function handle(req: StepRequest): Promise<unknown> {
  if (req.step === "init") {
    workload = await create(req.params as InitParams);
    return {};
  }
  const step = workload?.steps[req.step];
  if (!step) throw new Error(`no step ${JSON.stringify(req.step)} in this workload`);
  return step(req.params as never);
}

const send = (m: GeneratorMessage) => process.send!(m);

process.on("message", (req: StepRequest) => {
  handle(req).then(
    (result) => send({ id: req.id, ok: true, result }),
    (e: unknown) => send({ id: req.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
process.on("disconnect", () => process.exit(0));
setInterval(() => send({ progress: { ...counters } }), PROGRESS_MS);
