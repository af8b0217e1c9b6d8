// Media for the protocol: upload slots on keys the server chooses, checks before a message may
// carry an upload, download URLs for members only, and thumbnails made after the message is
// delivered. Bytes never pass through the edge's actors: clients talk to the object store.

import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import sharp from "sharp";
import { CommandError } from "../proto/command-error.ts";
import type { Config } from "../config/config.ts";
import { ErrorCode } from "../proto/codes.ts";
import type { MediaUploadParams, MediaUploadResult, MediaUrlResult } from "../proto/types.ts";
import type { MediaRecord, MetadataStore } from "../storage/types.ts";
import type { ObjectStore } from "./object-store.ts";

/** Decoding a hostile image must stay bounded: refuse anything above this many pixels. */
const MAX_INPUT_PIXELS = 50_000_000;

const objectKey = (mediaId: string) => `media/${mediaId}`;
const newMediaId = () => "m" + randomUUID().replaceAll("-", "");

export class MediaService {
  constructor(
    private readonly config: Config,
    private readonly store: ObjectStore,
    private readonly metadata: MetadataStore,
    private readonly log: Logger,
  ) {}

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
    const id = newMediaId();
    await this.metadata.createMedia({ id, owner, contentType: p.contentType, size: p.size, sha256: p.sha256, createdAt: Date.now(), conv: null, thumb: null });
    // The policy allows exactly the declared size's ceiling, the declared type and this one key.
    const upload = await this.store.presignUpload(objectKey(id), {
      contentType: p.contentType,
      maxBytes: p.size,
      expiresInSec: this.config.media.uploadExpirySec,
    });
    return { media: id, upload };
  }

  /**
   * Before a message may carry media: the sender owns it, the upload is there with the declared
   * size and type, and it is not already tied to another conversation.
   */
  async verifyForSend(owner: string, mediaId: string, conv: string): Promise<MediaRecord> {
    const rec = await this.metadata.getMedia(mediaId);
    if (!rec || rec.owner !== owner) throw new CommandError(ErrorCode.NotFound, "no such media");
    const info = await this.store.stat(objectKey(mediaId));
    if (!info) throw new CommandError(ErrorCode.Conflict, "the upload has not finished");
    if (info.size !== rec.size || info.contentType !== rec.contentType) {
      throw new CommandError(ErrorCode.Conflict, "the uploaded object does not match its declared size and content type");
    }
    if (!(await this.metadata.attachMedia(mediaId, owner, conv))) throw new CommandError(ErrorCode.Conflict, "this media belongs to another conversation");
    return rec;
  }

  /** A short-lived download URL, for members of the conversation the media was sent in (and its owner). */
  async downloadUrl(user: string, mediaId: string, isMember: (conv: string) => Promise<boolean>): Promise<MediaUrlResult> {
    const rec = await this.metadata.getMedia(mediaId);
    const allowed = rec && (rec.conv ? await isMember(rec.conv) : rec.owner === user);
    // Unknown and forbidden look the same, so ids cannot be probed.
    if (!rec || !allowed) throw new CommandError(ErrorCode.NotFound, "no such media");
    const { url, expiresAt } = await this.store.presignDownload(objectKey(mediaId), this.config.media.downloadExpirySec);
    const out: MediaUrlResult = { url, expiresAt, contentType: rec.contentType, size: rec.size };
    if (rec.thumb) out.thumb = rec.thumb;
    return out;
  }

  /**
   * Makes a JPEG thumbnail of an image; resolves with the thumbnail's media id, or null when the
   * object is not a decodable image. Runs after the message was delivered, off its path.
   */
  async makeThumbnail(rec: MediaRecord, conv: string): Promise<string | null> {
    if (!rec.contentType.startsWith("image/") || rec.thumb) return null;
    try {
      const original = await this.store.get(objectKey(rec.id));
      const px = this.config.media.thumbnailPx;
      const jpeg = await sharp(original, { limitInputPixels: MAX_INPUT_PIXELS })
        .rotate()
        .resize(px, px, { fit: "inside", withoutEnlargement: true })
        .jpeg({ quality: 70 })
        .toBuffer();
      const thumb = newMediaId();
      const bytes = new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
      await this.store.put(objectKey(thumb), bytes, "image/jpeg");
      const sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
      await this.metadata.createMedia({ id: thumb, owner: rec.owner, contentType: "image/jpeg", size: bytes.length, sha256, createdAt: Date.now(), conv, thumb: null });
      await this.metadata.setMediaThumb(rec.id, thumb);
      return thumb;
    } catch (err) {
      this.log.warn({ err, media: rec.id }, "thumbnail failed");
      return null;
    }
  }
}
