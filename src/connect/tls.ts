// Server certificate name checks for clients that connect to a list of servers.
//
// Clients that upgrade an existing socket to TLS (nats.js, postgres.js) do not pass the address
// they dialled to the name check when it is an IP address, and Node/Bun then check the
// certificate against "localhost": a certificate for localhost, from the same CA, would pass for
// any server. This check accepts a certificate only if it names one of the configured servers.

import { checkServerIdentity, type PeerCertificate } from "node:tls";

/** A checkServerIdentity for TLS options: the certificate must name one of `hosts`. */
export function identityAmong(hosts: string[]): (hostname: string, cert: PeerCertificate) => Error | undefined {
  return (_hostname, cert) => {
    let err: Error | undefined;
    for (const host of hosts) {
      err = checkServerIdentity(host, cert);
      if (!err) return undefined;
    }
    return err ?? new Error("no server to check the certificate against");
  };
}

/** The host of a "scheme://host:port", "host:port" or "[v6]:port" address, without brackets. */
export function hostOf(address: string): string {
  const rest = address.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/^[^@/]*@/, "");
  const v6 = /^\[([^\]]+)\]/.exec(rest);
  if (v6) return v6[1]!;
  return rest.split(/[:/?]/)[0]!;
}
