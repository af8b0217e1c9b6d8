// Files in end-to-end encrypted conversations: the sender encrypts each file with a fresh key
// (AES-256-GCM, a random 96-bit nonce in front of the ciphertext) and uploads only ciphertext;
// the key and the ciphertext's SHA-256 travel inside the MLS message, so the server stores bytes
// it cannot read and members can tell a swapped upload before decrypting.

/** A file an encrypted message carries; everything here is inside the encryption. */
export interface EncryptedFile {
  /** Media id of the uploaded ciphertext (MEDIA_URL gives its download URL). */
  media: string;
  /** AES-256-GCM key. */
  key: Uint8Array;
  /** SHA-256 of the uploaded ciphertext. */
  sha256: Uint8Array;
  /** The file's real type and size (the upload is application/octet-stream, a little larger). */
  contentType: string;
  size: number;
  name?: string;
  /** A small preview the sender made (the server makes none for encrypted files), inline. */
  thumbnail?: { data: Uint8Array; contentType: string };
}

const NONCE_BYTES = 12;

function own(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : b.slice();
}

async function digest(b: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", own(b)));
}

export async function encryptFile(data: Uint8Array): Promise<{ ciphertext: Uint8Array; key: Uint8Array; sha256: Uint8Array }> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const k = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, k, own(data)));
  const ciphertext = new Uint8Array(NONCE_BYTES + sealed.length);
  ciphertext.set(nonce);
  ciphertext.set(sealed, NONCE_BYTES);
  return { ciphertext, key, sha256: await digest(ciphertext) };
}

/** Checks the ciphertext against its digest, then decrypts it; throws when either fails. */
export async function decryptFile(ciphertext: Uint8Array, file: Pick<EncryptedFile, "key" | "sha256">): Promise<Uint8Array> {
  const d = await digest(ciphertext);
  if (d.length !== file.sha256.length || d.some((b, i) => b !== file.sha256[i])) throw new Error("the downloaded file is not the one the message names (SHA-256 differs)");
  const k = await crypto.subtle.importKey("raw", own(file.key), "AES-GCM", false, ["decrypt"]);
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: own(ciphertext.subarray(0, NONCE_BYTES)) }, k, own(ciphertext.subarray(NONCE_BYTES))));
}
