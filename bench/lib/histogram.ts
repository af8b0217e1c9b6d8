// Latency histograms (HdrHistogram): recorded in microseconds, reported in milliseconds.
// Generators ship them to the orchestrator in HdrHistogram's compressed base64 form, which
// keeps the full distribution (not just a few percentiles), so rounds and processes merge exactly.

import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from "hdr-histogram-js";

/** Longest latency tracked: anything slower is recorded as this (and the report says "≥"). */
const MAX_US = 120_000_000;

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** A histogram as it travels and is stored: the encoded distribution plus its summary. */
export interface HistogramData {
  encoded: string;
  summary: LatencySummary;
}

export class LatencyHistogram {
  private readonly h: Histogram;

  constructor(from?: Histogram) {
    this.h = from ?? build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_US, numberOfSignificantValueDigits: 3 });
  }

  static merge(parts: HistogramData[]): LatencyHistogram {
    const out = new LatencyHistogram();
    for (const p of parts) out.h.add(decodeFromCompressedBase64(p.encoded));
    return out;
  }

  recordMs(ms: number): void {
    this.h.recordValue(Math.min(MAX_US, Math.max(1, Math.round(ms * 1000))));
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Latency at percentile p (0..100), in ms. */
  atPercentile(p: number): number {
    return this.h.getValueAtPercentile(p) / 1000;
  }

  summary(): LatencySummary {
    return {
      count: this.h.totalCount,
      p50: this.atPercentile(50),
      p90: this.atPercentile(90),
      p99: this.atPercentile(99),
      p999: this.atPercentile(99.9),
      max: this.h.maxValue / 1000,
    };
  }

  /** Latency by percentile from the median on, dense towards the tail (as HdrHistogram plots it), ending at the maximum. */
  curve(): [number, number][] {
    const points: [number, number][] = [[50, this.atPercentile(50)]];
    for (let k = 3; k <= 32; k++) {
      const p = 100 * (1 - 10 ** (-k / 8));
      points.push([p, this.atPercentile(p)]);
    }
    points.push([100, this.h.maxValue / 1000]);
    return points;
  }

  toData(): HistogramData {
    return { encoded: encodeIntoCompressedBase64(this.h), summary: this.summary() };
  }
}
