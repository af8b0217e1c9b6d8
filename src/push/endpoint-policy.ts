// Which push endpoints the server will POST to. A subscription's endpoint comes from the client, so
// without this a user could aim the server at its own loopback or internal network (SSRF). Real
// push services are public https hosts on the default port; anything else is refused, except the
// origins of an explicit allowlist that exists for tests running a push service on loopback.

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

export type EndpointVerdict = { ok: true } | { ok: false; reason: string };

export async function checkPushEndpoint(endpoint: string, opts: { allowlist: string[] }): Promise<EndpointVerdict> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return refuse("not a URL");
  }
  if (opts.allowlist.some((origin) => new URL(origin).origin === url.origin)) return { ok: true };
  if (url.protocol !== "https:") return refuse(`scheme ${url.protocol} (https only)`);
  if (url.username || url.password) return refuse("credentials in the URL");
  // The URL parser drops an explicit :443, so any port left is a non-default one.
  if (url.port) return refuse(`port ${url.port} (443 only)`);

  // The parser has already canonicalised IPv4 spellings such as 0x7f.1 to dotted decimal.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host)) {
    const range = nonPublicRange(host);
    return range ? refuse(`${host} is ${range}`) : { ok: true };
  }
  let addresses: { address: string }[];
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch (err) {
    return refuse(`${host} does not resolve (${(err as Error).message})`);
  }
  if (addresses.length === 0) return refuse(`${host} has no address`);
  // Every address must be public: the HTTP client may connect to any of them.
  for (const { address } of addresses) {
    const range = nonPublicRange(address);
    if (range) return refuse(`${host} resolves to ${address}, ${range}`);
  }
  return { ok: true };
}

function refuse(reason: string): EndpointVerdict {
  return { ok: false, reason };
}

/** The name of the non-public range holding `ip` (an IPv4 or IPv6 literal), or null when it is public. */
export function nonPublicRange(ip: string): string | null {
  return isIP(ip) === 4 ? v4Range(parseV4(ip)) : v6Range(parseV6(ip));
}

const V4_RANGES: [base: string, bits: number, name: string][] = [
  ["0.0.0.0", 8, "unspecified (this network)"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "carrier-grade NAT"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "IETF protocol assignments"],
  ["192.0.2.0", 24, "documentation"],
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["198.51.100.0", 24, "documentation"],
  ["203.0.113.0", 24, "documentation"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved or broadcast"],
];

function v4Range(addr: number): string | null {
  for (const [base, bits, name] of V4_RANGES) {
    const mask = (~0 << (32 - bits)) >>> 0;
    if (((addr & mask) >>> 0) === parseV4(base)) return `IPv4 ${name}`;
  }
  return null;
}

function parseV4(ip: string): number {
  return ip.split(".").reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}

/**
 * IPv6 is judged by what is routable: only global unicast (2000::/3) is public, which leaves out
 * unspecified, loopback, unique-local (fc00::/7), link-local, site-local and multicast at once.
 * Forms that carry an IPv4 address are judged by that address.
 */
function v6Range(g: number[]): string | null {
  const embedded = (hi: number, lo: number) => v4Range(((hi << 16) | lo) >>> 0);
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return embedded(g[6]!, g[7]!); // ::ffff:a.b.c.d, IPv4-mapped
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return embedded(g[6]!, g[7]!); // NAT64 well-known prefix
  if (g[0] === 0x2002) return embedded(g[1]!, g[2]!); // 6to4
  if ((g[0]! & 0xe000) !== 0x2000) return "IPv6 outside global unicast (loopback, unique-local, link-local, multicast or reserved)";
  if (g[0] === 0x2001 && g[1] === 0x0db8) return "IPv6 documentation";
  if (g[0] === 0x2001 && g[1] === 0) return "IPv6 Teredo";
  return null;
}

/** Eight 16-bit groups of a valid IPv6 literal (checked by isIP), with "::" and a dotted IPv4 tail expanded. */
function parseV6(ip: string): number[] {
  let text = ip;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = parseV4(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parts = (s: string) => (s ? s.split(":").map((x) => parseInt(x, 16)) : []);
  const left = parts(head);
  const right = tail === undefined ? [] : parts(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
