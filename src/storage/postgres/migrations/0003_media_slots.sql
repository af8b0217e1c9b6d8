CREATE TABLE "media_usage" (
	"owner" text PRIMARY KEY NOT NULL,
	"day" integer NOT NULL,
	"bytes" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "expires_at" bigint;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "object_key" text;--> statement-breakpoint
CREATE INDEX "media_owner_idx" ON "media" USING btree ("owner","expires_at");--> statement-breakpoint
CREATE INDEX "media_expires_idx" ON "media" USING btree ("expires_at");