// End-to-end encryption for the SDK (`@msgr/sdk/e2ee`): MLS (RFC 9420) groups per conversation
// through ts-mls. A separate entry point, so apps that do not encrypt load none of it.

export { E2eeClient, type E2eeEvents, type E2eeOptions, type GroupChange, type SecureMessage } from "./mls/e2ee-client.ts";
export { decryptFile, encryptFile, type EncryptedFile } from "./mls/files.ts";
export { fingerprintDigits, safetyNumber, type DeviceKey } from "./mls/safety-number.ts";
export { MemoryMlsStorage, type MlsStorage } from "./mls/storage.ts";
export { credentialIdentity, MLS_CIPHERSUITE, parseIdentity } from "../proto/mls.ts";
