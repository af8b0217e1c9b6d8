// msgr's MLS ciphersuite as ts-mls implements it, and the client configuration every group uses.
// WebCrypto does the work where it offers Ed25519 and X25519 (Bun, Node.js 20+, current
// browsers); where it does not, ts-mls's pure-JavaScript provider (@noble/curves, -hashes,
// -ciphers) takes over.

import {
  defaultCryptoProvider,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  nobleCryptoProvider,
  type CiphersuiteImpl,
  type ClientConfig,
  type Credential,
} from "ts-mls";
import { MLS_CIPHERSUITE, parseIdentity } from "../../proto/mls.ts";

/** Whether this runtime's WebCrypto signs with Ed25519 and agrees keys with X25519. */
async function webCryptoHasCurves(): Promise<boolean> {
  try {
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) return false;
    await subtle.generateKey("Ed25519", false, ["sign", "verify"]);
    await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
    return true;
  } catch {
    return false;
  }
}

let suite: Promise<CiphersuiteImpl> | undefined;
export function ciphersuite(): Promise<CiphersuiteImpl> {
  return (suite ??= webCryptoHasCurves().then((web) => getCiphersuiteImpl(getCiphersuiteFromName(MLS_CIPHERSUITE), web ? defaultCryptoProvider : nobleCryptoProvider)));
}

/** Past epochs whose keys a member keeps, to read messages sent just before a commit (the server's e2ee.epochWindow is at most this). */
export const RETAINED_EPOCHS = 4;

/**
 * Every leaf's credential must be a basic credential naming a msgr device ("<user>/<device>").
 * That it names the right one is checked against the server's word for each message's sender.
 */
export const clientConfig: ClientConfig = {
  keyRetentionConfig: { ...defaultKeyRetentionConfig, retainKeysForEpochs: RETAINED_EPOCHS },
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: {
    async validateCredential(credential: Credential): Promise<boolean> {
      return credential.credentialType === "basic" && parseIdentity(credential.identity) !== null;
    },
  },
};
