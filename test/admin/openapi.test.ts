// docs/admin-api.openapi.yaml describes exactly the routes the server serves: the same paths and
// methods, each operationId the route's audit action, every path parameter declared, and every
// $ref resolving.

import { describe, expect, test } from "bun:test";
import { ADMIN_ROUTES } from "../../src/admin/actions.ts";

type Json = Record<string, any>;
const doc = Bun.YAML.parse(await Bun.file(new URL("../../docs/admin-api.openapi.yaml", import.meta.url)).text()) as Json;

/** Follows a local $ref ("#/components/...") to what it names. */
function resolve(node: Json): Json {
  if (typeof node?.$ref !== "string") return node;
  const target = (node.$ref as string)
    .slice(2)
    .split("/")
    .reduce((o: Json | undefined, k) => o?.[k], doc);
  if (target === undefined) throw new Error(`unresolved ${node.$ref}`);
  return target;
}

const documented = Object.entries(doc.paths as Json).flatMap(([path, ops]) =>
  Object.entries(ops as Json).map(([method, op]) => ({ path, method: method.toUpperCase(), op: op as Json })),
);

describe("the admin API's OpenAPI document", () => {
  test("is OpenAPI 3.1 with bearer admin tokens required everywhere", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.adminToken).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.security).toEqual([{ adminToken: [] }]);
  });

  test("lists exactly the routes the server serves, by method, path and action", () => {
    const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
    expect(documented.map(key).sort()).toEqual(ADMIN_ROUTES.map(key).sort());
    for (const r of ADMIN_ROUTES) {
      const d = documented.find((x) => key(x) === key(r))!;
      expect({ route: key(r), operationId: d.op.operationId }).toEqual({ route: key(r), operationId: r.action });
    }
  });

  test("declares every path parameter, and only those", () => {
    for (const { path, method, op } of documented) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = ((op.parameters ?? []) as Json[])
        .map(resolve)
        .filter((p) => p.in === "path")
        .map((p) => p.name)
        .sort();
      expect({ route: `${method} ${path}`, params: declared }).toEqual({ route: `${method} ${path}`, params: inPath });
    }
  });

  test("documents a success and the authentication refusals for every route, and every $ref resolves", () => {
    for (const { path, method, op } of documented) {
      const statuses = Object.keys(op.responses);
      expect({ route: `${method} ${path}`, ok: statuses.some((s) => s.startsWith("2")) }).toEqual({ route: `${method} ${path}`, ok: true });
      expect(statuses).toEqual(expect.arrayContaining(["401", "403"]));
    }
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node && typeof node === "object") {
        if (typeof (node as Json).$ref === "string") resolve(node as Json);
        Object.values(node).forEach(walk);
      }
    };
    walk(doc);
  });
});
