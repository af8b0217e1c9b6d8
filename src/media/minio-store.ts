// Media on MinIO or any S3-compatible store. Uploads never pass through our servers: the client
// gets a presigned POST policy that the store itself enforces (the exact key and content type,
// 1..maxBytes bytes, the expiry). A presigned PUT could not bound the size, hence POST.

import type { Agent } from "node:https";
import { Client, S3Error } from "minio";
import type { ObjectInfo, ObjectStore, UploadForm } from "./object-store.ts";

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

  async presignUpload(key: string, opts: { contentType: string; maxBytes: number; expiresInSec: number }): Promise<UploadForm> {
    const expiresAt = Date.now() + Math.round(opts.expiresInSec * 1000);
    const policy = this.signer.newPostPolicy();
    policy.setBucket(this.bucket);
    policy.setKey(key);
    policy.setContentType(opts.contentType);
    policy.setContentLengthRange(1, opts.maxBytes);
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
    try {
      const info = await this.client.statObject(this.bucket, key);
      return { size: info.size, contentType: String(info.metaData["content-type"] ?? "application/octet-stream") };
    } catch (err) {
      if (err instanceof S3Error && (err.code === "NotFound" || err.code === "NoSuchKey")) return null;
      throw err;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.client.getObject(this.bucket, key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async put(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
    await this.client.putObject(this.bucket, key, Buffer.from(bytes), bytes.length, { "Content-Type": contentType });
  }

  // The client holds no connections of its own (it uses Node's shared agent), so nothing to release.
  async close(): Promise<void> {}
}

function publicEndpoint(publicUrl: string): { endPoint: string; port: number; useSSL: boolean } {
  const url = new URL(publicUrl);
  if (url.pathname !== "/" || url.search) throw new Error(`publicUrl must be an origin (scheme, host, port), got ${publicUrl}`);
  const useSSL = url.protocol === "https:";
  if (!useSSL && url.protocol !== "http:") throw new Error(`publicUrl must be http or https, got ${publicUrl}`);
  return { endPoint: url.hostname, port: url.port ? Number(url.port) : useSSL ? 443 : 80, useSSL };
}
