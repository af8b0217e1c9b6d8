-- The message lifecycle: replies, edits and disappearing messages on messages (nullable columns,
-- added without rewriting the table; the expiry index is partial, but building it scans the
-- table once, blocking appends meanwhile: on a large table run this migration in a quiet hour),
-- the conversation's timer, scheduled media deletion, and each user's own settings and hidden
-- messages.
CREATE TABLE "chat_settings" (
	"user" text NOT NULL,
	"conv_id" text NOT NULL,
	"mute_until" bigint NOT NULL,
	"archived" boolean NOT NULL,
	"pinned" boolean NOT NULL,
	"unread" boolean NOT NULL,
	CONSTRAINT "chat_settings_user_conv_id_pk" PRIMARY KEY("user","conv_id")
);
--> statement-breakpoint
CREATE TABLE "hidden_messages" (
	"user" text NOT NULL,
	"conv_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"at" bigint NOT NULL,
	CONSTRAINT "hidden_messages_user_conv_id_seq_pk" PRIMARY KEY("user","conv_id","seq")
);
--> statement-breakpoint
ALTER TABLE "conversations" ADD COLUMN "timer" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "media" ADD COLUMN "delete_at" bigint;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "ref" bigint;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "edited" bigint;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "exp" bigint;--> statement-breakpoint
CREATE INDEX "chat_settings_mute_idx" ON "chat_settings" USING btree ("conv_id","mute_until");--> statement-breakpoint
CREATE INDEX "media_delete_idx" ON "media" USING btree ("delete_at") WHERE delete_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX "messages_exp_idx" ON "messages" USING btree ("exp") WHERE exp IS NOT NULL;