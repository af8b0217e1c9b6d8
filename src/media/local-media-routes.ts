// The edge's half of the local-disk media backend: the upload endpoint that checks a signed form
// the way S3 checks a POST policy, and the download endpoint for signed URLs.
//
// The upload body is parsed as it streams in rather than with Request.formData(), which would
// buffer the whole body first: the fields come before the file, so the size they carry is known
// before the first file byte, and an oversized upload is cut off at that size instead of being
// held in memory or on disk.
//
// A form stores one object: once its upload succeeded, posting it again is refused (409), since
// the store never replaces an object. A failed upload stores nothing, so the form may be retried.

import { type LocalDiskObjectStore, MediaRefusal, OBJECTS_PATH, UPLOAD_PATH } from "./local-disk-store.ts";
import { ObjectExistsError } from "./object-store.ts";

/** The fields before the file are small; a form whose file has not started by here is not one of ours. */
const FIELDS_LIMIT = 64 * 1024;
const CRLF = Buffer.from("\r\n");
const HEADERS_END = Buffer.from("\r\n\r\n");

interface BodyReader {
  read(): Promise<Bun.ReadableStreamDefaultReadResult<Uint8Array>>;
}

/** Handles a media request; null when `url` is not a media path, for the caller's other routes. */
export function localMediaRoute(store: LocalDiskObjectStore, req: Request, url: URL): Promise<Response> | null {
  if (url.pathname === UPLOAD_PATH) {
    // A refused upload may leave part of its body unread: closing the connection keeps a client
    // from sending its next request into those leftover bytes.
    return req.method === "POST" ? answer(() => upload(store, req), { connection: "close" }) : Promise.resolve(methodNotAllowed("POST"));
  }
  if (url.pathname.startsWith(OBJECTS_PATH)) {
    return req.method === "GET" ? answer(() => download(store, url)) : Promise.resolve(methodNotAllowed("GET"));
  }
  return null;
}

async function answer(handle: () => Promise<Response>, refusalHeaders: Record<string, string> = {}): Promise<Response> {
  try {
    return await handle();
  } catch (err) {
    if (!(err instanceof MediaRefusal)) throw err;
    return Response.json({ code: err.code, message: err.message }, { status: err.status, headers: refusalHeaders });
  }
}

function methodNotAllowed(allow: string): Response {
  return Response.json({ code: "method-not-allowed", message: `use ${allow}` }, { status: 405, headers: { allow } });
}

async function upload(store: LocalDiskObjectStore, req: Request): Promise<Response> {
  const boundary = multipartBoundary(req.headers.get("content-type"));
  if (boundary === null || req.body === null) throw new MediaRefusal("bad-form", "expected a multipart/form-data body", 400);
  const reader = req.body.getReader();
  try {
    const { fields, fileType, fileStart } = await readFields(reader, boundary);
    const policy = store.checkUpload(fields, Date.now());
    // Parameters (`text/plain; charset=utf-8`) do not change the type; the type stored is the declared one.
    if (mediaType(fileType) !== policy.contentType) {
      throw new MediaRefusal("wrong-content-type", `the file must be ${policy.contentType}, not ${fileType || "untyped"}`);
    }
    // Refused before reading the file; the store's own refusal below settles a race of two posts.
    if (await store.has(policy.key)) throw alreadyUploaded();
    try {
      await store.write(policy.key, policy.contentType, policy.sha256, fileBytes(fileStart, reader, boundary, policy.size));
    } catch (err) {
      throw err instanceof ObjectExistsError ? alreadyUploaded() : err;
    }
    return new Response(null, { status: 204 });
  } finally {
    // Whatever is left (the closing delimiter, or the rest of a refused upload) is not wanted.
    void reader.cancel().catch(() => {});
  }
}

async function download(store: LocalDiskObjectStore, url: URL): Promise<Response> {
  // Keys are URL-safe, so the path is the key as signed; anything percent-encoded fails the key check.
  const key = url.pathname.slice(OBJECTS_PATH.length);
  store.checkDownload(key, url.searchParams.get("expires") ?? "", url.searchParams.get("signature") ?? "", Date.now());
  const found = await store.read(key);
  if (!found) throw new MediaRefusal("not-found", "no such object", 404);
  return new Response(found.body, {
    headers: {
      "content-type": found.contentType,
      "cache-control": "private",
      // Uploads are served from the edge's own origin: never let one run as a page or be sniffed into one.
      "content-security-policy": "sandbox",
      "x-content-type-options": "nosniff",
    },
  });
}

const alreadyUploaded = () => new MediaRefusal("already-uploaded", "this form was used already; its object cannot be replaced", 409);

/** The type/subtype of a Content-Type value, without parameters, lower case (MIME types are case-insensitive). */
function mediaType(contentType: string): string {
  return (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
}

function multipartBoundary(contentType: string | null): string | null {
  const m = /^multipart\/form-data\s*;(?:.*;)?\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType ?? "");
  return m ? (m[1] ?? m[2] ?? null) : null;
}

interface Fields {
  fields: Record<string, string>;
  /** The Content-Type of the part named "file". */
  fileType: string;
  /** The bytes of the file part already read along with the fields. */
  fileStart: Buffer;
}

/** Reads the form up to the start of the file part, which must come last (as in an S3 POST). */
async function readFields(reader: BodyReader, boundary: string): Promise<Fields> {
  let buf = Buffer.alloc(0);
  for (;;) {
    const parsed = parseFields(buf, boundary);
    if (parsed) return parsed;
    if (buf.length > FIELDS_LIMIT) throw new MediaRefusal("bad-form", `no file part within the first ${FIELDS_LIMIT} bytes`, 400);
    const { done, value } = await reader.read();
    if (done) throw new MediaRefusal("bad-form", "the form has no file part", 400);
    buf = Buffer.concat([buf, value]);
  }
}

/** The fields and the file part's start when `buf` reaches that far, else null (read more). */
function parseFields(buf: Buffer, boundary: string): Fields | null {
  const first = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.concat([CRLF, first]);
  const at = buf.indexOf(first);
  if (at < 0) return null;
  let pos = at + first.length;
  const fields: Record<string, string> = {};
  for (;;) {
    if (buf.length < pos + 2) return null;
    if (buf[pos] === 0x2d && buf[pos + 1] === 0x2d) throw new MediaRefusal("bad-form", "the form has no file part", 400);
    const headersEnd = buf.indexOf(HEADERS_END, pos);
    if (headersEnd < 0) return null;
    if (!buf.subarray(pos, pos + 2).equals(CRLF)) throw new MediaRefusal("bad-form", "malformed multipart body", 400);
    const { name, type } = partHeaders(buf.toString("utf8", pos + 2, headersEnd));
    const bodyStart = headersEnd + HEADERS_END.length;
    if (name === "file") return { fields, fileType: type, fileStart: buf.subarray(bodyStart) };
    const end = buf.indexOf(delimiter, bodyStart);
    if (end < 0) return null;
    // A repeated field would leave it open which value the signature covered.
    if (name in fields) throw new MediaRefusal("bad-form", `field ${name} appears twice`, 400);
    fields[name] = buf.toString("utf8", bodyStart, end);
    pos = end + delimiter.length;
  }
}

function partHeaders(block: string): { name: string; type: string } {
  let name: string | undefined;
  let type = "";
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    const header = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (header === "content-disposition") name = /;\s*name="([^"]*)"/i.exec(value)?.[1];
    else if (header === "content-type") type = value;
  }
  if (!name) throw new MediaRefusal("bad-form", "a form part has no name", 400);
  return { name, type };
}

/**
 * The file part's bytes as they arrive, up to the delimiter that ends the part. Throws (so the
 * store discards what it wrote) once more than `size` arrived, or at the end when fewer did.
 */
async function* fileBytes(start: Buffer, reader: BodyReader, boundary: string, size: number): AsyncGenerator<Uint8Array> {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let pending = start;
  let total = 0;
  const tooLarge = () => new MediaRefusal("too-large", `the file exceeds the ${size} bytes the form allows`);
  for (;;) {
    const end = pending.indexOf(delimiter);
    if (end >= 0) {
      total += end;
      if (total > size) throw tooLarge();
      if (total < size) throw new MediaRefusal("wrong-size", `the file has ${total} bytes, the form is for ${size}`);
      yield pending.subarray(0, end);
      return;
    }
    // The last delimiter-length-minus-one bytes may be the start of a delimiter split across reads.
    const safe = pending.length - (delimiter.length - 1);
    if (safe > 0) {
      total += safe;
      if (total > size) throw tooLarge();
      yield pending.subarray(0, safe);
      pending = pending.subarray(safe);
    }
    const { done, value } = await reader.read();
    if (done) throw new MediaRefusal("bad-form", "the body ended inside the file part", 400);
    pending = Buffer.concat([pending, value]);
  }
}
