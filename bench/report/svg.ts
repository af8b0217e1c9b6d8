// Latency-by-percentile chart, HdrHistogram style, written as plain SVG (no browser, no
// plotting library): the x axis runs from the median and stretches the tail (90%, 99%, 99.9%,
// 99.99% equally spaced, then the maximum), the y axis is logarithmic so a 0.5 ms server and a 50 ms one both show.

export interface Series {
  name: string;
  /** [percentile, ms] pairs, percentile ascending, the last one at 100 (the maximum). */
  curve: [number, number][];
}

export interface Panel {
  title: string;
  series: Series[];
}

const WIDTH = 820;
const PANEL_HEIGHT = 300;
const M = { left: 64, right: 170, top: 34, bottom: 44 };
const X_MIN = Math.log10(2); // the median, where the curves start
const X_TAIL = 4; // 99.99%
const X_MAX = 4.6; // where the maximum is drawn
const COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];
const MSGR_COLOR = "#d62728";

const nines = (p: number) => (p >= 100 ? X_MAX : Math.min(X_TAIL, Math.log10(1 / (1 - p / 100))));
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function latencyChart(panels: Panel[]): string {
  const height = panels.length * PANEL_HEIGHT;
  const body = panels.map((p, i) => panel(p, i * PANEL_HEIGHT)).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
${body}
</svg>
`;
}

function panel(p: Panel, top: number): string {
  const plotW = WIDTH - M.left - M.right;
  const plotH = PANEL_HEIGHT - M.top - M.bottom;
  const values = p.series.flatMap((s) => s.curve.map(([, v]) => v)).filter((v) => v > 0);
  const yLo = Math.floor(Math.log10(Math.min(...values, 1)));
  const yHi = Math.max(yLo + 1, Math.ceil(Math.log10(Math.max(...values, 1))));
  const x = (pct: number) => M.left + ((nines(pct) - X_MIN) / (X_MAX - X_MIN)) * plotW;
  const y = (v: number) => top + M.top + plotH - ((Math.log10(Math.max(v, 10 ** yLo)) - yLo) / (yHi - yLo)) * plotH;
  const parts: string[] = [`<text x="${M.left}" y="${top + 20}" font-size="14" font-weight="bold">${esc(p.title)}</text>`];

  for (let d = yLo; d <= yHi; d++) {
    for (const m of d < yHi ? [1, 2, 5] : [1]) {
      const v = m * 10 ** d;
      const yy = y(v).toFixed(1);
      parts.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${yy}" y2="${yy}" stroke="${m === 1 ? "#ccc" : "#eee"}"/>`);
      parts.push(`<text x="${M.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${Number(v.toPrecision(1))}</text>`);
    }
  }
  const ticks: [number, string][] = [[50, "50%"], [90, "90%"], [99, "99%"], [99.9, "99.9%"], [99.99, "99.99%"], [100, "max"]];
  for (const [pct, label] of ticks) {
    const xx = x(pct).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${top + M.top}" y2="${top + M.top + plotH}" stroke="#ddd"/>`);
    parts.push(`<text x="${xx}" y="${top + M.top + plotH + 16}" text-anchor="middle">${label}</text>`);
  }
  parts.push(`<text x="${M.left + plotW / 2}" y="${top + PANEL_HEIGHT - 6}" text-anchor="middle" fill="#555">percentile</text>`);
  parts.push(`<text transform="translate(16 ${top + M.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#555">latency, ms (log)</text>`);

  let colorIndex = 0;
  p.series.forEach((s, i) => {
    const msgr = s.name === "msgr";
    const color = msgr ? MSGR_COLOR : COLORS[colorIndex++ % COLORS.length]!;
    const points = s.curve.map(([pct, v]) => `${x(pct).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="${msgr ? 2.5 : 1.5}" points="${points}"/>`);
    const ly = top + M.top + 8 + i * 18;
    parts.push(`<line x1="${WIDTH - M.right + 16}" x2="${WIDTH - M.right + 40}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="${msgr ? 2.5 : 1.5}"/>`);
    parts.push(`<text x="${WIDTH - M.right + 46}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  return parts.join("\n");
}
