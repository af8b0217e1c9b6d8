// Where an end-to-end encrypting client keeps its secrets and group states between runs: a small
// key-value interface, so an app can put them in IndexedDB, a keychain, a file or a database.
// MemoryMlsStorage forgets everything with the process; the terminal client keeps a directory of
// files (src/cli/mls-file-storage.ts).
//
// What is stored is secret (the device's signature key, KeyPackage private keys, every group's
// epoch secrets): storage must be private to the device. A value written must be read back as
// written, or the device loses its groups.

export interface MlsStorage {
  get(key: string): Promise<Uint8Array | null>;
  /** Replaces the value under `key`; resolves once it is durable. */
  put(key: string, value: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every key starting with `prefix`. */
  keys(prefix: string): Promise<string[]>;
}

export class MemoryMlsStorage implements MlsStorage {
  private readonly values = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | null> {
    const v = this.values.get(key);
    return v ? v.slice() : null;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.values.set(key, value.slice());
  }

  async delete(key: string): Promise<void> {
    this.values.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    return [...this.values.keys()].filter((k) => k.startsWith(prefix));
  }
}
