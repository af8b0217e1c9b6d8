// Every bus subject name, in one place. Actors are addressed only through these.
// Ids are encoded so that a user id containing '.', '*' or '>' cannot change a subject's shape.

function token(id: string): string {
  // Ids are already restricted to [A-Za-z0-9_.@+=:-]; escape the characters NATS gives meaning to.
  return id.replace(/[.%*> ]/g, (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"));
}

export const subjects = {
  /** Events for every actor of one user, on every node: conversation membership, notices. */
  user: (userId: string) => `msgr.user.${token(userId)}`,
  /** Events of one conversation, delivered once per node that has a member connected. */
  conversation: (convId: string) => `msgr.conv.${token(convId)}`,
  /** Online/offline transitions of one user, for nodes with devices watching that user. */
  presence: (userId: string) => `msgr.presence.${token(userId)}`,
  /** A node's readiness probe: an event it sends itself through the bus (src/health/readiness.ts). */
  health: (nodeId: number, nonce: string) => `msgr.health.${nodeId}.${token(nonce)}`,
  /** Revoked devices and banned users, heard by every node (src/actors/access-watch.ts). */
  access: "msgr.access",
  /** Changes every node must hear to keep its safety caches true: blocks, contacts, settings, removed messages. */
  safety: "msgr.safety",
  /** Changes every node must hear to keep its cached MLS group facts true: commits, devices revoked (src/e2ee). */
  e2ee: "msgr.e2ee",
} as const;
