// The upload quota, in one place for every metadata backend. Each backend reads the owner's usage
// inside its transaction (under whatever lock makes that read stable), asks checkUploadQuota, and
// writes the slot and the new usage only if it passes.

import { UploadQuotaError, type UploadQuota } from "./types.ts";

export const DAY_MS = 86_400_000;

/** The UTC day (days since the epoch) that `ms` falls on: the daily byte quota resets at 00:00 UTC. */
export const utcDay = (ms: number): number => Math.floor(ms / DAY_MS);

export interface UploadUsage {
  /** The owner's unattached slots not yet expired, and the earliest of their expiries (null when none). */
  pending: number;
  firstExpiry: number | null;
  /** The owner's usage row: the UTC day it counts, and the bytes announced that day. Null: no row yet. */
  day: number | null;
  bytes: number;
}

/**
 * The owner's usage row once a slot of `size` bytes is issued at `nowMs`; throws UploadQuotaError
 * when the quota does not allow it, with the time after which the same request would pass.
 */
export function checkUploadQuota(usage: UploadUsage, size: number, quota: UploadQuota, nowMs: number): { day: number; bytes: number } {
  if (usage.pending >= quota.maxPending) {
    // The earliest pending slot frees up when it expires (or sooner, when it is sent).
    const retryAfterMs = Math.max(1, (usage.firstExpiry ?? nowMs) - nowMs);
    throw new UploadQuotaError("pending-uploads", `at most ${quota.maxPending} uploads may wait to be sent; send them or let them expire`, retryAfterMs);
  }
  const today = utcDay(nowMs);
  const used = usage.day === today ? usage.bytes : 0;
  if (used + size > quota.maxBytesPerDay) {
    const retryAfterMs = (today + 1) * DAY_MS - nowMs;
    throw new UploadQuotaError("daily-bytes", `uploads are limited to ${quota.maxBytesPerDay} bytes per UTC day, ${used} of them used`, retryAfterMs);
  }
  return { day: today, bytes: used + size };
}
