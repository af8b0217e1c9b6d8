-- End-to-end encryption (src/e2ee): KeyPackages waiting to be claimed, each conversation's MLS
-- group (id, epoch, the commit that started it) and who holds each leaf of its ratchet tree.
CREATE TABLE "mls_groups" (
	"conv_id" text PRIMARY KEY NOT NULL,
	"group_id" "bytea" NOT NULL,
	"epoch" bigint NOT NULL,
	"commit_seq" bigint NOT NULL,
	"commit_hash" text NOT NULL,
	"pending" text
);
--> statement-breakpoint
CREATE TABLE "mls_key_packages" (
	"ref" text PRIMARY KEY NOT NULL,
	"user" text NOT NULL,
	"device" text NOT NULL,
	"body" "bytea" NOT NULL,
	"last_resort" boolean NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mls_leaves" (
	"conv_id" text NOT NULL,
	"leaf" integer NOT NULL,
	"user" text NOT NULL,
	"device" text NOT NULL,
	CONSTRAINT "mls_leaves_conv_id_leaf_pk" PRIMARY KEY("conv_id","leaf")
);
--> statement-breakpoint
ALTER TABLE "mls_groups" ADD CONSTRAINT "mls_groups_conv_id_conversations_id_fk" FOREIGN KEY ("conv_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mls_leaves" ADD CONSTRAINT "mls_leaves_conv_id_conversations_id_fk" FOREIGN KEY ("conv_id") REFERENCES "public"."conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "mls_key_packages_device_idx" ON "mls_key_packages" USING btree ("user","device","last_resort","created_at");--> statement-breakpoint
CREATE INDEX "mls_leaves_device_idx" ON "mls_leaves" USING btree ("user","device");