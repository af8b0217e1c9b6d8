// The media quota and expiry settings: defaults, environment overrides, and combinations that
// would make some uploads impossible refused at start with a message naming the key.

import { describe, expect, test } from "bun:test";
import { ConfigError, resolveConfig } from "../../src/config/config.ts";

describe("config: media quotas and expiry", () => {
  test("defaults: 50 pending slots, 2 GiB a day, unsent uploads kept an hour, swept every minute", () => {
    expect(resolveConfig({}, {}).media).toMatchObject({
      maxPendingUploads: 50,
      maxUploadBytesPerDay: 2 * 1024 ** 3,
      unattachedTtlSec: 3600,
      uploadExpirySec: 300,
      sweepIntervalMs: 60_000,
    });
  });

  test("environment variables override them", () => {
    const c = resolveConfig({}, {
      MSGR_MEDIA_MAX_PENDING_UPLOADS: "5",
      MSGR_MEDIA_MAX_UPLOAD_BYTES_PER_DAY: "209715200",
      MSGR_MEDIA_UNATTACHED_TTL_SEC: "600",
      MSGR_MEDIA_SWEEP_INTERVAL_MS: "1000",
    });
    expect(c.media).toMatchObject({ maxPendingUploads: 5, maxUploadBytesPerDay: 209_715_200, unattachedTtlSec: 600, sweepIntervalMs: 1000 });
  });

  test.each([
    [{ MSGR_MEDIA_MAX_PENDING_UPLOADS: "0" }, /media.maxPendingUploads must be a positive integer/],
    [{ MSGR_MEDIA_MAX_PENDING_UPLOADS: "2.5" }, /media.maxPendingUploads must be a positive integer/],
    // Below the 100 MiB video limit: a video of that size could never be uploaded.
    [{ MSGR_MEDIA_MAX_UPLOAD_BYTES_PER_DAY: "1000000" }, /media.maxUploadBytesPerDay must be at least/],
    [{ MSGR_MEDIA_UNATTACHED_TTL_SEC: "60" }, /media.unattachedTtlSec must be at least media.uploadExpirySec/],
    [{ MSGR_MEDIA_UPLOAD_EXPIRY_SEC: "0" }, /media.uploadExpirySec must be positive/],
    [{ MSGR_MEDIA_SWEEP_INTERVAL_MS: "0" }, /media.sweepIntervalMs must be positive/],
  ])("%p is refused with a message naming the setting", (env, message) => {
    expect(() => resolveConfig({}, env)).toThrow(ConfigError);
    expect(() => resolveConfig({}, env)).toThrow(message);
  });

  test("a smaller daily quota is fine when the per-type limits are smaller too", () => {
    const media = { maxImageBytes: 1000, maxVideoBytes: 1000, maxDocumentBytes: 1000, maxUploadBytesPerDay: 1000 };
    expect(resolveConfig({ media }, {}).media.maxUploadBytesPerDay).toBe(1000);
  });
});
