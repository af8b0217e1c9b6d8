// Medians across rounds. Shared machines are noisy: one slow round should not move a figure,
// so every figure of a multi-round run is the median of its rounds, field by field.

/** The median of the finite numbers among `xs` (NaN when there are none). */
export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The field-by-field median of objects of one shape: numbers are medians, nested objects recurse, anything else comes from the first. */
export function medianOf<T>(objs: T[]): T {
  const first = objs[0] as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(first)) {
    const vs = objs.map((o) => (o as Record<string, unknown>)[k]);
    if (typeof v === "number") out[k] = median(vs as number[]);
    else if (v && typeof v === "object" && !Array.isArray(v) && vs.every((x) => x && typeof x === "object")) out[k] = medianOf(vs);
    else out[k] = v;
  }
  return out as T;
}
