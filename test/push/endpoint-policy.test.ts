// The endpoint policy refuses every push target a client could use to reach the server's own
// network. Public cases use IP literals so that the suite needs no outside DNS.

import { describe, expect, test } from "bun:test";
import { checkPushEndpoint, nonPublicRange } from "../../src/push/endpoint-policy.ts";

const strict = { allowlist: [] as string[] };

async function reason(endpoint: string, opts = strict): Promise<string | null> {
  const verdict = await checkPushEndpoint(endpoint, opts);
  return verdict.ok ? null : verdict.reason;
}

describe("checkPushEndpoint", () => {
  test("public https endpoints pass", async () => {
    expect(await reason("https://8.8.8.8/push/abc")).toBeNull();
    expect(await reason("https://8.8.8.8:443/push/abc")).toBeNull();
    expect(await reason("https://[2606:4700:4700::1111]/push/abc")).toBeNull();
  });

  test("not a URL, not https, credentials and odd ports are refused", async () => {
    expect(await reason("fcm.googleapis.com/fcm/send/x")).toBe("not a URL");
    expect(await reason("http://8.8.8.8/push")).toContain("https only");
    expect(await reason("ftp://8.8.8.8/push")).toContain("https only");
    expect(await reason("https://user:pw@8.8.8.8/push")).toContain("credentials");
    expect(await reason("https://user@8.8.8.8/push")).toContain("credentials");
    expect(await reason("https://8.8.8.8:8443/push")).toContain("port 8443");
    expect(await reason("https://8.8.8.8:80/push")).toContain("port 80");
  });

  const refusedV4: [string, string][] = [
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "link-local"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["100.127.255.255", "carrier-grade NAT"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["192.0.2.1", "documentation"],
    ["198.18.0.1", "benchmarking"],
  ];
  test.each(refusedV4)("IPv4 %s is refused (%s)", async (ip, range) => {
    expect(await reason(`https://${ip}/push`)).toContain(range);
  });

  test("neighbours of the refused IPv4 ranges pass", async () => {
    for (const ip of ["11.0.0.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1", "169.253.0.1", "223.255.255.255"]) {
      expect(await reason(`https://${ip}/push`)).toBeNull();
    }
  });

  test("other spellings of a loopback IPv4 are refused (the URL parser canonicalises them)", async () => {
    for (const host of ["0x7f.1", "2130706433", "0177.0.0.1", "127.1"]) {
      expect(await reason(`https://${host}/push`)).toContain("loopback");
    }
  });

  const refusedV6: [string, string][] = [
    ["::", "outside global unicast"],
    ["::1", "outside global unicast"],
    ["fc00::1", "outside global unicast"], // unique-local
    ["fd12:3456:789a::1", "outside global unicast"], // unique-local
    ["fe80::1", "outside global unicast"], // link-local
    ["febf::1", "outside global unicast"], // link-local
    ["ff02::1", "outside global unicast"], // multicast
    ["::127.0.0.1", "outside global unicast"], // deprecated IPv4-compatible
    ["::ffff:127.0.0.1", "IPv4 loopback"], // IPv4-mapped
    ["::ffff:7f00:1", "IPv4 loopback"],
    ["::ffff:10.1.2.3", "IPv4 private"],
    ["::ffff:169.254.169.254", "IPv4 link-local"],
    ["64:ff9b::c0a8:101", "IPv4 private"], // NAT64 of 192.168.1.1
    ["2002:7f00:1::", "IPv4 loopback"], // 6to4 of 127.0.0.1
    ["2001:db8::1", "documentation"],
    ["2001:0:4136:e378::1", "Teredo"],
  ];
  test.each(refusedV6)("IPv6 %s is refused (%s)", async (ip, range) => {
    expect(await reason(`https://[${ip}]/push`)).toContain(range);
  });

  test("IPv4-mapped and NAT64 forms of a public IPv4 pass", async () => {
    expect(await reason("https://[::ffff:8.8.8.8]/push")).toBeNull();
    expect(await reason("https://[64:ff9b::808:808]/push")).toBeNull();
  });

  test("a hostname resolving to loopback is refused", async () => {
    expect(await reason("https://localhost/push")).toContain("resolves to");
    // Resolvers differ on the rooted form; refused either way.
    expect(await reason("https://localhost./push")).not.toBeNull();
  });

  test("an allowlisted loopback origin passes, and only that origin", async () => {
    const opts = { allowlist: ["http://127.0.0.1:1234"] };
    expect(await reason("http://127.0.0.1:1234/push/x", opts)).toBeNull();
    expect(await reason("http://127.0.0.1:1235/push/x", opts)).toContain("https only");
    expect(await reason("https://127.0.0.1:1234/push/x", opts)).toContain("port 1234");
    expect(await reason("http://localhost:1234/push/x", opts)).toContain("https only");
  });
});

describe("nonPublicRange on resolver output", () => {
  test("judges the dotted and mixed forms a resolver may return", () => {
    expect(nonPublicRange("::ffff:127.0.0.1")).toBe("IPv4 loopback");
    expect(nonPublicRange("::ffff:192.168.0.10")).toBe("IPv4 private");
    expect(nonPublicRange("fe80::1ff:fe23:4567:890a")).toContain("outside global unicast");
    expect(nonPublicRange("142.250.185.74")).toBeNull();
    expect(nonPublicRange("2a00:1450:4001:82b::200a")).toBeNull();
  });
});
