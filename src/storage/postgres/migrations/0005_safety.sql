CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" bigint NOT NULL,
	"admin" text NOT NULL,
	"device" text NOT NULL,
	"action" text NOT NULL,
	"target" text NOT NULL,
	"status" integer NOT NULL,
	"details" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "blocks" (
	"blocker" text NOT NULL,
	"blocked" text NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "blocks_blocker_blocked_pk" PRIMARY KEY("blocker","blocked")
);
--> statement-breakpoint
CREATE TABLE "contacts" (
	"owner" text NOT NULL,
	"contact" text NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "contacts_owner_contact_pk" PRIMARY KEY("owner","contact")
);
--> statement-breakpoint
CREATE TABLE "invitations" (
	"conv_id" text NOT NULL,
	"user" text NOT NULL,
	"by" text NOT NULL,
	"at" bigint NOT NULL,
	CONSTRAINT "invitations_conv_id_user_pk" PRIMARY KEY("conv_id","user")
);
--> statement-breakpoint
CREATE TABLE "invite_links" (
	"token" text PRIMARY KEY NOT NULL,
	"conv_id" text NOT NULL,
	"by" text NOT NULL,
	"at" bigint NOT NULL,
	"approval" boolean NOT NULL,
	"revoked_at" bigint
);
--> statement-breakpoint
CREATE TABLE "join_requests" (
	"conv_id" text NOT NULL,
	"user" text NOT NULL,
	"token" text NOT NULL,
	"at" bigint NOT NULL,
	CONSTRAINT "join_requests_conv_id_user_pk" PRIMARY KEY("conv_id","user")
);
--> statement-breakpoint
CREATE TABLE "member_consents" (
	"conv_id" text NOT NULL,
	"user" text NOT NULL,
	"at" bigint NOT NULL,
	CONSTRAINT "member_consents_conv_id_user_pk" PRIMARY KEY("conv_id","user")
);
--> statement-breakpoint
CREATE TABLE "privacy_settings" (
	"user" text PRIMARY KEY NOT NULL,
	"last_seen" text NOT NULL,
	"online" text NOT NULL,
	"group_add" text NOT NULL,
	"read_receipts" boolean NOT NULL
);
--> statement-breakpoint
CREATE TABLE "removed_messages" (
	"conv_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"sender" text NOT NULL,
	"media" text,
	"by" text NOT NULL,
	"reason" text NOT NULL,
	"at" bigint NOT NULL,
	CONSTRAINT "removed_messages_conv_id_seq_pk" PRIMARY KEY("conv_id","seq")
);
--> statement-breakpoint
CREATE TABLE "reports" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"reporter" text NOT NULL,
	"user" text NOT NULL,
	"conv_id" text,
	"seq" bigint,
	"reason" text NOT NULL,
	"messages" text NOT NULL,
	"at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" text PRIMARY KEY NOT NULL,
	"created_at" bigint NOT NULL,
	"origin" text NOT NULL,
	"banned_at" bigint,
	"ban_reason" text
);
--> statement-breakpoint
ALTER TABLE "invitations" ADD CONSTRAINT "invitations_conv_id_conversations_id_fk" FOREIGN KEY ("conv_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invite_links" ADD CONSTRAINT "invite_links_conv_id_conversations_id_fk" FOREIGN KEY ("conv_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "join_requests" ADD CONSTRAINT "join_requests_conv_id_conversations_id_fk" FOREIGN KEY ("conv_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "member_consents" ADD CONSTRAINT "member_consents_conv_id_conversations_id_fk" FOREIGN KEY ("conv_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "invitations_user_idx" ON "invitations" USING btree ("user");--> statement-breakpoint
CREATE INDEX "invite_links_conv_idx" ON "invite_links" USING btree ("conv_id");--> statement-breakpoint
CREATE INDEX "member_consents_user_idx" ON "member_consents" USING btree ("user");--> statement-breakpoint
CREATE INDEX "reports_user_idx" ON "reports" USING btree ("user");--> statement-breakpoint
CREATE INDEX "users_banned_idx" ON "users" USING btree ("banned_at");