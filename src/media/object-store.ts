// Object storage for media. The server never carries upload bytes on the hot path: clients
// upload straight to the store with a presigned POST policy that the store itself enforces
// (size range, exact content type, expiry, the one key), and download with short-lived URLs.
// Backends: local disk served by the edge (embedded default) and MinIO/S3.

export interface UploadForm {
  /** POST a multipart/form-data body here: every field below, then the file as the last field named "file". */
  url: string;
  fields: Record<string, string>;
  expiresAt: number;
}

export interface ObjectInfo {
  size: number;
  contentType: string;
}

export interface ObjectStore {
  /** A form that lets its holder upload exactly one object at `key`, of `contentType`, at most `maxBytes`, until it expires. */
  presignUpload(key: string, opts: { contentType: string; maxBytes: number; expiresInSec: number }): Promise<UploadForm>;
  /** A URL that downloads `key` until it expires. */
  presignDownload(key: string, expiresInSec: number): Promise<{ url: string; expiresAt: number }>;
  /** Size and content type of a stored object; null when there is none. */
  stat(key: string): Promise<ObjectInfo | null>;
  get(key: string): Promise<Uint8Array>;
  /** Server-side writes (thumbnails). */
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  close(): Promise<void>;
}
