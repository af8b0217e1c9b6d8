// Number formatting for the report: few significant digits, thousands separators, and an
// explicit "—" where a figure does not exist (a protocol without acks, a skipped target).

const DASH = "—";

function sig(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return DASH;
  if (Math.abs(x) >= 10 ** digits) return Math.round(x).toLocaleString("en-US");
  return Number(x.toPrecision(digits)).toLocaleString("en-US", { maximumSignificantDigits: digits });
}

export const ms = (x: number | undefined) => (x === undefined ? DASH : sig(x));
export const num = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? DASH : Math.round(x).toLocaleString("en-US"));
export const rate = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? DASH : x >= 10_000 ? `${sig(x / 1000)}k` : sig(x));
export const ratio = (x: number) => (Number.isFinite(x) && x > 0 ? `${sig(x, 2)}×` : DASH);
export const percent = (share: number) => (Number.isFinite(share) ? `${Math.round(share * 100)}%` : DASH);
export const kib = (bytes: number) => (Number.isFinite(bytes) ? `${sig(bytes / 1024)} KiB` : DASH);
export const mib = (bytes: number) => (Number.isFinite(bytes) ? `${sig(bytes / 1024 / 1024)} MiB` : DASH);

/** A Markdown table: the first `textColumns` columns left-aligned (names, text), the rest right-aligned (figures). */
export function table(header: string[], rows: string[][], textColumns = 1): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map((_, i) => (i < textColumns ? "---" : "---:"))), ...rows.map(line)].join("\n");
}
