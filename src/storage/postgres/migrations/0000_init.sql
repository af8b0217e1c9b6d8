CREATE TABLE "conv_seq" (
	"conv_id" text PRIMARY KEY NOT NULL,
	"last_seq" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "conversations" (
	"id" text PRIMARY KEY NOT NULL,
	"type" integer NOT NULL,
	"title" text NOT NULL,
	"created_by" text NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"user" text NOT NULL,
	"device" text NOT NULL,
	"first_seen" bigint NOT NULL,
	"last_seen" bigint NOT NULL,
	"revoked_at" bigint,
	CONSTRAINT "devices_user_device_pk" PRIMARY KEY("user","device")
);
--> statement-breakpoint
CREATE TABLE "direct_pairs" (
	"user_a" text NOT NULL,
	"user_b" text NOT NULL,
	"conv_id" text NOT NULL,
	CONSTRAINT "direct_pairs_user_a_user_b_pk" PRIMARY KEY("user_a","user_b")
);
--> statement-breakpoint
CREATE TABLE "members" (
	"conv_id" text NOT NULL,
	"user" text NOT NULL,
	"admin" boolean NOT NULL,
	"joined_seq" bigint NOT NULL,
	"delivered" bigint DEFAULT 0 NOT NULL,
	"read" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "members_conv_id_user_pk" PRIMARY KEY("conv_id","user")
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"conv_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"id" bigint NOT NULL,
	"sender" text NOT NULL,
	"device" text NOT NULL,
	"cid" text NOT NULL,
	"kind" integer NOT NULL,
	"body" "bytea" NOT NULL,
	"ts" bigint NOT NULL,
	CONSTRAINT "messages_conv_id_seq_pk" PRIMARY KEY("conv_id","seq")
);
--> statement-breakpoint
ALTER TABLE "members" ADD CONSTRAINT "members_conv_id_conversations_id_fk" FOREIGN KEY ("conv_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "members_user_idx" ON "members" USING btree ("user");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_client_id_idx" ON "messages" USING btree ("conv_id","sender","cid") WHERE cid <> '';--> statement-breakpoint
CREATE INDEX "messages_ts_idx" ON "messages" USING btree ("ts");