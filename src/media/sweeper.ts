// Runs MediaService.sweepExpired (upload slots) and sweepDue (media of disappearing messages)
// every `intervalMs`, one sweep at a time: an interval that fires while a sweep is still running
// is skipped. Each node of a cluster runs one; sweeps of several
// nodes overlap harmlessly (deleting what is gone already is no error, and finishing is conditional).

import type { Logger } from "pino";
import type { MediaService } from "./media-service.ts";

export interface MediaSweeper {
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

export function startMediaSweeper(media: MediaService, intervalMs: number, log: Logger): MediaSweeper {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    running ??= media
      .sweepExpired()
      .then(async (cleared) => {
        if (cleared > 0) log.debug({ cleared }, "expired upload slots cleared");
        const gone = await media.sweepDue();
        if (gone > 0) log.debug({ gone }, "media of disappeared messages deleted");
      })
      .catch((err) => log.error({ err }, "media sweep failed"))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
