// Media for the protocol: upload slots on keys the server chooses, within a per-user quota;
// checks before a message may carry an upload, which pin the bytes recipients get to a copy no
// client can write; download URLs for members only; thumbnails made after the message is
// delivered; and the sweep of slots that expired. Bytes never pass through the edge's actors:
// clients talk to the object store.

import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import sharp from "sharp";
import { CommandError } from "../proto/command-error.ts";
import type { Config } from "../config/config.ts";
import { ErrorCode } from "../proto/codes.ts";
import type { MediaUploadParams, MediaUploadResult, MediaUrlResult } from "../proto/types.ts";
import { UploadQuotaError, type MediaRecord, type MetadataStore, type UploadQuota } from "../storage/types.ts";
import type { ObjectStore } from "./object-store.ts";
import { systemClock, type Clock } from "../clock.ts";

/** Decoding a hostile image must stay bounded: refuse anything above this many pixels. */
const MAX_INPUT_PIXELS = 50_000_000;
/** Expired slots handled per sweep step. */
const SWEEP_BATCH = 500;

/** Where a media's upload form writes. */
const uploadKey = (mediaId: string) => `media/${mediaId}`;
/**
 * A fresh key for an object the server writes or copies: no upload form ever names one, and the
 * random part keeps two concurrent sends of one media from writing the same key.
 */
const sealedKey = (mediaId: string) => `sealed/${mediaId}/${randomUUID()}`;
const newMediaId = () => "m" + randomUUID().replaceAll("-", "");

export class MediaService {
  private readonly quota: UploadQuota;

  constructor(
    private readonly config: Config,
    private readonly store: ObjectStore,
    private readonly metadata: MetadataStore,
    private readonly log: Logger,
    /** The clock of slots, quotas and expiry (tests move it). */
    private readonly clock: Clock = systemClock,
  ) {
    this.quota = { maxPending: config.media.maxPendingUploads, maxBytesPerDay: config.media.maxUploadBytesPerDay };
  }

  /** The size limit for a content type: images, videos, everything else as documents. */
  limitFor(contentType: string): number {
    const { media } = this.config;
    if (contentType.startsWith("image/")) return media.maxImageBytes;
    if (contentType.startsWith("video/")) return media.maxVideoBytes;
    return media.maxDocumentBytes;
  }

  async requestUpload(owner: string, p: MediaUploadParams): Promise<MediaUploadResult> {
    const limit = this.limitFor(p.contentType);
    if (p.size > limit) throw new CommandError(ErrorCode.BodyTooLarge, `${p.contentType} uploads are limited to ${limit} bytes`);
    const now = this.clock.now();
    const id = newMediaId();
    const slot: MediaRecord = {
      id,
      owner,
      contentType: p.contentType,
      size: p.size,
      sha256: p.sha256,
      createdAt: now,
      expiresAt: now + this.config.media.unattachedTtlSec * 1000,
      conv: null,
      objectKey: null,
      thumb: null,
    };
    try {
      await this.metadata.reserveUpload(slot, this.quota, now);
    } catch (err) {
      if (err instanceof UploadQuotaError) throw new CommandError(ErrorCode.RateLimited, err.message, err.retryAfterMs);
      throw err;
    }
    // The policy allows exactly this key, type, size and SHA-256.
    const upload = await this.store.presignUpload(uploadKey(id), {
      contentType: p.contentType,
      size: p.size,
      sha256: p.sha256,
      expiresInSec: this.config.media.uploadExpirySec,
    });
    return { media: id, upload };
  }

  /**
   * Before a message may carry media: the sender owns it, and it is either already attached to
   * this conversation (a resend) or an unexpired slot whose upload is finished. The upload is then
   * copied inside the store to a fresh key no form names, the copy's size, content type and
   * SHA-256 (computed by the store) are checked against the declaration, and the media is attached
   * with that copy as what it serves. Nothing the sender posts afterwards reaches recipients.
   */
  async verifyForSend(owner: string, mediaId: string, conv: string): Promise<MediaRecord> {
    const rec = await this.metadata.getMedia(mediaId);
    if (!rec || rec.owner !== owner) throw new CommandError(ErrorCode.NotFound, "no such media");
    if (rec.conv === conv) return rec;
    if (rec.conv !== null) throw new CommandError(ErrorCode.Conflict, "this media belongs to another conversation");
    if (rec.expiresAt === null || rec.expiresAt <= this.clock.now()) throw new CommandError(ErrorCode.Conflict, "the upload slot has expired; upload the file again");
    const key = sealedKey(mediaId);
    const info = await this.store.copy(uploadKey(mediaId), key);
    if (!info) throw new CommandError(ErrorCode.Conflict, "the upload has not finished");
    if (info.size !== rec.size || info.contentType !== rec.contentType || info.sha256 !== rec.sha256) {
      this.discard(key);
      throw new CommandError(ErrorCode.Conflict, "the uploaded object does not match its declared size, content type and SHA-256");
    }
    if (await this.metadata.attachMedia(mediaId, owner, conv, key, this.clock.now())) return { ...rec, conv, objectKey: key };
    // Another send of this media got there first, or the slot expired meanwhile: ours is spare.
    this.discard(key);
    const current = await this.metadata.getMedia(mediaId);
    if (current?.conv === conv) return current;
    throw new CommandError(ErrorCode.Conflict, current?.conv ? "this media belongs to another conversation" : "the upload slot has expired; upload the file again");
  }

  /** A short-lived download URL, for members of the conversation the media was sent in (and its owner). */
  async downloadUrl(user: string, mediaId: string, isMember: (conv: string) => Promise<boolean>): Promise<MediaUrlResult> {
    const rec = await this.metadata.getMedia(mediaId);
    const allowed = rec && (rec.conv ? await isMember(rec.conv) : rec.owner === user);
    // Unknown and forbidden look the same, so ids cannot be probed.
    if (!rec || !allowed) throw new CommandError(ErrorCode.NotFound, "no such media");
    // Before it is sent, its uploader sees the upload itself.
    const { url, expiresAt } = await this.store.presignDownload(rec.objectKey ?? uploadKey(rec.id), this.config.media.downloadExpirySec);
    const out: MediaUrlResult = { url, expiresAt, contentType: rec.contentType, size: rec.size };
    if (rec.thumb) out.thumb = rec.thumb;
    return out;
  }

  /**
   * Makes a JPEG thumbnail of an image; resolves with the thumbnail's media id, or null when the
   * object is not a decodable image. Runs after the message was delivered, off its path.
   */
  async makeThumbnail(rec: MediaRecord, conv: string): Promise<string | null> {
    if (!rec.contentType.startsWith("image/") || rec.thumb || !rec.objectKey) return null;
    try {
      const original = await this.store.get(rec.objectKey);
      const px = this.config.media.thumbnailPx;
      const jpeg = await sharp(original, { limitInputPixels: MAX_INPUT_PIXELS })
        .rotate()
        .resize(px, px, { fit: "inside", withoutEnlargement: true })
        .jpeg({ quality: 70 })
        .toBuffer();
      const thumb = newMediaId();
      const key = sealedKey(thumb);
      const bytes = new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
      await this.store.put(key, bytes, "image/jpeg");
      const sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
      await this.metadata.createMedia({
        id: thumb,
        owner: rec.owner,
        contentType: "image/jpeg",
        size: bytes.length,
        sha256,
        createdAt: this.clock.now(),
        expiresAt: null,
        conv,
        objectKey: key,
        thumb: null,
      });
      await this.metadata.setMediaThumb(rec.id, thumb);
      return thumb;
    } catch (err) {
      this.log.warn({ err, media: rec.id }, "thumbnail failed");
      return null;
    }
  }

  /**
   * Clears the slots expired by now, a batch at a time: deletes their upload objects, then the
   * records of those never sent, and closes the slot of those sent (recipients download the copy,
   * which stays). Returns how many slots it cleared.
   */
  async sweepExpired(): Promise<number> {
    const now = this.clock.now();
    let cleared = 0;
    for (;;) {
      const due = await this.metadata.listExpiredUploads(now, SWEEP_BATCH);
      if (due.length === 0) return cleared;
      // Objects first, records after: a crash in between leaves records the next sweep finds again.
      await this.store.delete(due.map((m) => uploadKey(m.id)));
      await this.metadata.finishExpiredUploads(due.map((m) => m.id), now);
      cleared += due.length;
      if (due.length < SWEEP_BATCH) return cleared;
    }
  }

  /**
   * Forwarding: media of a message in one conversation, for a message in another, without an
   * upload. The object (and its thumbnail's) is copied inside the store to a fresh key and
   * recorded as new media of `conv`, owned by the forwarder: each conversation's media is then
   * deleted on its own terms (a deletion for everyone, a disappearing timer) without touching the
   * other's. The caller checked that `owner` may read the source.
   */
  async forwardCopy(src: MediaRecord, owner: string, conv: string): Promise<MediaRecord> {
    if (!src.objectKey) throw new CommandError(ErrorCode.NotFound, "no such media");
    const copy = async (from: MediaRecord, thumb: string | null): Promise<MediaRecord> => {
      const id = newMediaId();
      const key = sealedKey(id);
      const info = await this.store.copy(from.objectKey!, key);
      if (!info) throw new CommandError(ErrorCode.NotFound, "the media is gone");
      const rec: MediaRecord = { ...from, id, owner, createdAt: this.clock.now(), expiresAt: null, conv, objectKey: key, thumb };
      await this.metadata.createMedia(rec);
      return rec;
    };
    const srcThumb = src.thumb ? await this.metadata.getMedia(src.thumb) : null;
    const thumb = srcThumb?.objectKey ? await copy(srcThumb, null) : null;
    return copy(src, thumb?.id ?? null);
  }

  /**
   * Deletes media now, with its thumbnail: objects first (the upload and the served copy), then
   * the records, so a crash in between leaves records a later call finds again.
   */
  async deleteMedia(ids: string[]): Promise<void> {
    const recs = (await Promise.all(ids.map((id) => this.metadata.getMedia(id)))).filter((r): r is MediaRecord => r !== null);
    const thumbs = (await Promise.all(recs.flatMap((r) => (r.thumb ? [this.metadata.getMedia(r.thumb)] : [])))).filter((r): r is MediaRecord => r !== null);
    const all = [...recs, ...thumbs];
    if (all.length === 0) return;
    await this.store.delete(all.flatMap((r) => (r.objectKey ? [r.objectKey, uploadKey(r.id)] : [uploadKey(r.id)])));
    await this.metadata.deleteMediaRecords(all.map((r) => r.id));
  }

  /** The media of a disappearing message goes when the message does. */
  scheduleDeletion(id: string, atMs: number): Promise<void> {
    return this.metadata.scheduleMediaDeletion([id], atMs);
  }

  /** Deletes the media whose scheduled time has come, a batch at a time; returns how many. */
  async sweepDue(): Promise<number> {
    const now = this.clock.now();
    let deleted = 0;
    for (;;) {
      const due = await this.metadata.listMediaDue(now, SWEEP_BATCH);
      if (due.length === 0) return deleted;
      await this.deleteMedia(due.map((m) => m.id));
      deleted += due.length;
      if (due.length < SWEEP_BATCH) return deleted;
    }
  }

  /** Deletes a copy that will not be served; a failure only leaves a stray object behind. */
  private discard(key: string): void {
    this.store.delete([key]).catch((err) => this.log.warn({ err, key }, "could not delete an unused media copy"));
  }
}
