// drizzle-kit settings for the PostgreSQL backend: `bun run db:generate:pg` diffs the schema
// against the last snapshot and writes a new SQL migration for openPostgres() to apply.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/storage/postgres/schema.ts",
  out: "./src/storage/postgres/migrations",
});
