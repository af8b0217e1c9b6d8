// tsc rewrites the sources' `./x.ts` imports to `./x.js` in the emitted JavaScript
// (rewriteRelativeImportExtensions) but leaves them as `.ts` in the .d.ts files; TypeScript
// versions and tools that do not map `.ts` to `.d.ts` would then miss the types. This rewrites
// them to `.js`, which every TypeScript resolves to the `.d.ts` beside it.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function* declarations(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* declarations(p);
    else if (e.name.endsWith(".d.ts")) yield p;
  }
}

for (const file of declarations(new URL("../dist", import.meta.url).pathname)) {
  const src = readFileSync(file, "utf8");
  const out = src.replace(/(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\.ts\2/g, "$1$2$3.js$2");
  if (out !== src) writeFileSync(file, out);
}
