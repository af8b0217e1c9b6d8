// The one way tests wait: on a condition, never for a length of time. `until` checks the
// condition every few milliseconds (most conditions here have no event to wait on: a row in a
// store, a metric, a process's state) and fails with what it waited for after a deadline that
// only a broken system reaches.

export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}
