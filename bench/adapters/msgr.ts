// msgr through its public SDK, as an app would use it: default options, so delivered receipts
// go out automatically (autoAck) and count as part of the work per message. One exception: no
// reconnecting, so that a dropped connection shows as missing deliveries instead of being hidden.

import { loadSigningKey, type SigningKey } from "../../src/auth/keyring.ts";
import { mintAccessToken } from "../../src/auth/tokens.ts";
import { Client, MessageKind } from "../../src/sdk/index.ts";
import type { TargetAccess } from "../targets/types.ts";
import type { Adapter, Conn } from "./types.ts";

const TOKEN_TTL_SEC = 6 * 3600;
const JOIN_TIMEOUT_MS = 30_000;

export async function msgrAdapter(access: TargetAccess): Promise<Adapter> {
  if (!access.keysFile) throw new Error("msgr adapter: the target gave no keys file");
  const key = await loadSigningKey(access.keysFile);
  return {
    acks: true,
    async connect(user, device, endpoint) {
      const client = new Client({ url: endpoint, token: () => mintToken(key, user, device), reconnect: false });
      const synced = new Promise<void>((resolve) => client.once("synced", resolve));
      await client.connect();
      await synced;
      return new MsgrConn(user, client);
    },
  };
}

/** The bench's token for one device, signed with the key the edges verify with. */
export function mintToken(key: SigningKey, user: string, device: string): Promise<string> {
  return mintAccessToken(key, { user, device, ttlSec: TOKEN_TTL_SEC, audience: "msgr" });
}

class MsgrConn implements Conn {
  /** Conversations this device has been told about, so joinGroup can wait for the push. */
  private readonly known = new Set<string>();
  private readonly waiting = new Map<string, () => void>();

  constructor(
    readonly user: string,
    private readonly client: Client,
  ) {
    client.on("conversation", (c) => {
      this.known.add(c.conv.id);
      this.waiting.get(c.conv.id)?.();
    });
  }

  async directRoute(peer: string): Promise<string> {
    return (await this.client.openDirect(peer)).id;
  }

  async createGroup(name: string, members: string[]): Promise<string> {
    const conv = await this.client.createGroup(name, members.filter((m) => m !== this.user));
    this.known.add(conv.id);
    return conv.id;
  }

  joinGroup(route: string): Promise<void> {
    if (this.known.has(route)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.user}: no conversation push for ${route}`)), JOIN_TIMEOUT_MS);
      this.waiting.set(route, () => {
        clearTimeout(timer);
        this.waiting.delete(route);
        resolve();
      });
    });
  }

  send(route: string, body: Uint8Array): Promise<unknown> {
    return this.client.send(route, body);
  }

  onMessage(handler: (body: Uint8Array) => void): void {
    // The SDK also reports this device's own sends, and system messages (group created), as
    // messages; only the bench's messages from other users count.
    this.client.on("message", (m) => {
      if (m.from !== this.user && m.kind !== MessageKind.System) handler(m.body);
    });
  }

  close(): void {
    this.client.close();
  }
}
