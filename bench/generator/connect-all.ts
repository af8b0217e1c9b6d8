// Opens many connections with a bounded number in flight, so a storm of connects does not
// overflow the server's accept queue (the kernel would drop SYNs and retry them a second later,
// which measures the kernel's backoff, not the server).

export interface ConnectOutcome<T> {
  /** Connected items by index; undefined where the connect failed. */
  items: (T | undefined)[];
  failed: number;
  firstError?: string;
}

export async function connectAll<T>(count: number, concurrency: number, connect: (i: number) => Promise<T>): Promise<ConnectOutcome<T>> {
  const items: (T | undefined)[] = new Array(count);
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        items[i] = await connect(i);
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return firstError === undefined ? { items, failed } : { items, failed, firstError };
}

/** Like connectAll, but a single failure fails the whole setup (scenarios need every member). */
export async function connectEvery<T>(count: number, concurrency: number, connect: (i: number) => Promise<T>): Promise<T[]> {
  const out = await connectAll(count, concurrency, connect);
  if (out.failed > 0) throw new Error(`${out.failed} of ${count} connections failed; first: ${out.firstError}`);
  return out.items as T[];
}
