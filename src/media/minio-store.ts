// Media on MinIO or any S3-compatible store. Uploads never pass through our servers: the client
// gets a presigned POST policy that the store itself enforces (the exact key, content type and
// size, the expiry, and the SHA-256 through S3's x-amz-checksum-sha256). A presigned PUT could
// not bound the size, hence POST.
//
// A POST policy cannot be made single-use: S3 stores whatever a valid form posts until it
// expires. The checksum condition makes that harmless for the bytes (a second post of other bytes
// is refused with XAmzContentChecksumMismatch; the same bytes again change nothing), and what a
// message carries is never the uploaded object anyway: MediaService serves a server-side copy at
// a fresh key that no form names (copy()), made and checked when the message is sent. Pinning a
// version instead would need a versioned bucket, where every re-post keeps another version on
// disk until someone deletes it; a copy leaves the upload key holding at most one object.
//
// A few requests go through makeRequestAsync because the client has no option for them: HEAD with
// x-amz-checksum-mode (stat with the SHA-256), CopyObject asking the store to compute a SHA-256,
// and PUT with If-None-Match: * (put never replaces).

import type { Agent } from "node:https";
import { Client, S3Error } from "minio";
import { ObjectExistsError, type ObjectInfo, type ObjectStore, type UploadForm, type UploadSpec } from "./object-store.ts";

export interface MinioStoreOptions {
  endPoint: string;
  port: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** The bucket's region; defaults to us-east-1, MinIO's default. Set it for S3 buckets elsewhere. */
  region?: string;
  /** An HTTPS agent that trusts a private CA (src/connect/minio.ts); the system's CAs otherwise. */
  transportAgent?: Agent;
  /**
   * Where clients reach the store, e.g. https://media.example.com, when that is not the address
   * the server uses. Presigned URLs are signed for their host, so they are made for this one.
   */
  publicUrl?: string;
}

export class MinioObjectStore implements ObjectStore {
  private constructor(
    private readonly client: Client,
    /** Makes the URLs handed to clients; the same client unless `publicUrl` names another host. */
    private readonly signer: Client,
    private readonly bucket: string,
  ) {}

  /** Connects, and creates the bucket when it does not exist yet. */
  static async open(opts: MinioStoreOptions): Promise<MinioObjectStore> {
    // A fixed region also spares a bucket-location request before every presign.
    const region = opts.region ?? "us-east-1";
    const credentials = { accessKey: opts.accessKey, secretKey: opts.secretKey, region };
    const client = new Client({ endPoint: opts.endPoint, port: opts.port, useSSL: opts.useSSL, transportAgent: opts.transportAgent, ...credentials });
    const signer = opts.publicUrl === undefined ? client : new Client({ ...publicEndpoint(opts.publicUrl), ...credentials });
    if (!(await client.bucketExists(opts.bucket))) {
      try {
        await client.makeBucket(opts.bucket, region);
      } catch (err) {
        // Another node opening at the same moment may have created it first.
        if (!(err instanceof S3Error && err.code === "BucketAlreadyOwnedByYou")) throw err;
      }
    }
    return new MinioObjectStore(client, signer, opts.bucket);
  }

  async presignUpload(key: string, spec: UploadSpec): Promise<UploadForm> {
    const expiresAt = Date.now() + Math.round(spec.expiresInSec * 1000);
    const policy = this.signer.newPostPolicy();
    policy.setBucket(this.bucket);
    policy.setKey(key);
    policy.setContentType(spec.contentType);
    policy.setContentLengthRange(spec.size, spec.size);
    // The client has no setter for checksum conditions; the policy and form are plain data.
    const checksum = Buffer.from(spec.sha256, "hex").toString("base64");
    policy.policy.conditions.push(["eq", "$x-amz-checksum-sha256", checksum]);
    policy.formData["x-amz-checksum-sha256"] = checksum;
    policy.setExpires(new Date(expiresAt));
    const { postURL, formData } = await this.signer.presignedPostPolicy(policy);
    const fields = Object.fromEntries(Object.entries(formData).map(([name, value]) => [name, String(value)]));
    return { url: postURL, fields, expiresAt };
  }

  async presignDownload(key: string, expiresInSec: number): Promise<{ url: string; expiresAt: number }> {
    // S3 counts presigned GET lifetimes in whole seconds.
    const seconds = Math.max(1, Math.round(expiresInSec));
    const url = await this.signer.presignedGetObject(this.bucket, key, seconds);
    return { url, expiresAt: Date.now() + seconds * 1000 };
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    let headers: Record<string, string | string[] | undefined>;
    try {
      const res = await this.client.makeRequestAsync({ method: "HEAD", bucketName: this.bucket, objectName: key, headers: { "x-amz-checksum-mode": "ENABLED" } });
      res.resume();
      headers = res.headers;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    const checksum = headers["x-amz-checksum-sha256"];
    return {
      size: Number(headers["content-length"]),
      contentType: String(headers["content-type"] ?? "application/octet-stream"),
      // A composite checksum of a multipart upload ("...-N") is not the SHA-256 of the bytes.
      sha256: typeof checksum === "string" && !checksum.includes("-") ? Buffer.from(checksum, "base64").toString("hex") : null,
    };
  }

  async get(key: string): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.client.getObject(this.bucket, key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    const body = Buffer.from(bytes);
    const headers = {
      "content-type": contentType,
      // Conditional write: the store refuses (412) rather than replace an object.
      "if-none-match": "*",
      "x-amz-checksum-sha256": new Bun.CryptoHasher("sha256").update(body).digest("base64"),
    };
    try {
      const res = await this.client.makeRequestAsync({ method: "PUT", bucketName: this.bucket, objectName: key, headers }, body);
      res.resume();
    } catch (err) {
      if (err instanceof S3Error && err.code === "PreconditionFailed") throw new ObjectExistsError(key);
      throw err;
    }
  }

  async copy(from: string, to: string): Promise<ObjectInfo | null> {
    // CopyObject has no If-None-Match in MinIO, so `to` must be fresh (the interface says so).
    // x-amz-checksum-algorithm makes the store hash the bytes it copies, so stat(to) reports the
    // SHA-256 of the copy itself, whatever the source's upload claimed.
    const headers = { "x-amz-copy-source": encodeURI(`/${this.bucket}/${from}`), "x-amz-checksum-algorithm": "SHA256" };
    try {
      const res = await this.client.makeRequestAsync({ method: "PUT", bucketName: this.bucket, objectName: to, headers });
      // A copy can fail after the 200 status line; the error is then in the body.
      let body = "";
      for await (const chunk of res) body += String(chunk);
      if (body.includes("<Error>")) throw new Error(`copy of ${from} to ${to} failed: ${body.slice(0, 300)}`);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    return this.stat(to);
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    // One request per 1000 keys; deleting a key that holds nothing succeeds in S3.
    const failed = (await this.client.removeObjects(this.bucket, keys)).filter((r) => r?.Error);
    if (failed.length > 0) throw new Error(`could not delete ${failed.length} of ${keys.length} objects: ${JSON.stringify(failed[0])}`);
  }

  // The client holds no connections of its own (it uses Node's shared agent), so nothing to release.
  async close(): Promise<void> {}
}

function isMissing(err: unknown): boolean {
  return err instanceof S3Error && (err.code === "NotFound" || err.code === "NoSuchKey");
}

function publicEndpoint(publicUrl: string): { endPoint: string; port: number; useSSL: boolean } {
  const url = new URL(publicUrl);
  if (url.pathname !== "/" || url.search) throw new Error(`publicUrl must be an origin (scheme, host, port), got ${publicUrl}`);
  const useSSL = url.protocol === "https:";
  if (!useSSL && url.protocol !== "http:") throw new Error(`publicUrl must be http or https, got ${publicUrl}`);
  return { endPoint: url.hostname, port: url.port ? Number(url.port) : useSSL ? 443 : 80, useSSL };
}
