// drizzle-kit settings: `bun run db:generate` diffs the schema against the last snapshot and
// writes a new SQL migration for openSqlite() to apply.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/storage/sqlite/schema.ts",
  out: "./src/storage/sqlite/migrations",
});
