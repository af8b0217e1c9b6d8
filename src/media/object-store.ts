// Object storage for media. The server never carries upload bytes on the hot path: clients
// upload straight to the store with a presigned POST policy that the store itself enforces
// (the one key, the exact content type, size and SHA-256, the expiry), and download with
// short-lived URLs. Backends: local disk served by the edge (embedded default) and MinIO/S3.
//
// Objects are immutable once written: put refuses a key that exists, and what a message carries
// is a copy made at a key no upload form names (copy), so nothing a client can still post
// changes what recipients download.

export interface UploadForm {
  /** POST a multipart/form-data body here: every field below, then the file as the last field named "file". */
  url: string;
  fields: Record<string, string>;
  expiresAt: number;
}

/** What an upload form allows: exactly this content type, this many bytes, with this SHA-256 (hex). */
export interface UploadSpec {
  contentType: string;
  size: number;
  sha256: string;
  expiresInSec: number;
}

export interface ObjectInfo {
  size: number;
  contentType: string;
  /** Hex SHA-256 of the stored bytes as the store computed it; null for objects stored without one (written before stores kept it). */
  sha256: string | null;
}

/** put() on a key that already holds an object. */
export class ObjectExistsError extends Error {
  constructor(readonly key: string) {
    super(`an object exists at ${key}; objects are immutable`);
  }
}

export interface ObjectStore {
  /**
   * A form that lets its holder store one object at `key`, with exactly the spec's content type,
   * size and SHA-256, until it expires; the store refuses any other bytes. Posting it again
   * cannot replace the object with other bytes (the local store refuses a second post outright;
   * S3 accepts the identical bytes again, which changes nothing).
   */
  presignUpload(key: string, spec: UploadSpec): Promise<UploadForm>;
  /** A URL that downloads `key` until it expires. */
  presignDownload(key: string, expiresInSec: number): Promise<{ url: string; expiresAt: number }>;
  /** Size, content type and SHA-256 of a stored object; null when there is none. */
  stat(key: string): Promise<ObjectInfo | null>;
  get(key: string): Promise<Uint8Array>;
  /** Server-side writes (thumbnails). Throws ObjectExistsError when `key` holds an object. */
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /**
   * Copies the object at `from` to `to`, inside the store, and returns what `to` holds, with a
   * SHA-256 the store computed from those bytes; null when `from` holds nothing. `to` must be a
   * key never written before (the caller makes a fresh one): the copy is then independent of
   * `from`, whatever happens to `from` later.
   */
  copy(from: string, to: string): Promise<ObjectInfo | null>;
  /** Deletes the objects at `keys`; keys that hold nothing are no error. */
  delete(keys: string[]): Promise<void>;
  close(): Promise<void>;
}
