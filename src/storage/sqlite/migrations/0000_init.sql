CREATE TABLE `conv_seq` (
	`conv_id` text PRIMARY KEY NOT NULL,
	`last_seq` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `conversations` (
	`id` text PRIMARY KEY NOT NULL,
	`type` integer NOT NULL,
	`title` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `devices` (
	`user` text NOT NULL,
	`device` text NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`revoked_at` integer,
	PRIMARY KEY(`user`, `device`)
);
--> statement-breakpoint
CREATE TABLE `direct_pairs` (
	`user_a` text NOT NULL,
	`user_b` text NOT NULL,
	`conv_id` text NOT NULL,
	PRIMARY KEY(`user_a`, `user_b`)
);
--> statement-breakpoint
CREATE TABLE `members` (
	`conv_id` text NOT NULL,
	`user` text NOT NULL,
	`admin` integer NOT NULL,
	`joined_seq` integer NOT NULL,
	`delivered` integer DEFAULT 0 NOT NULL,
	`read` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`conv_id`, `user`),
	FOREIGN KEY (`conv_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `members_user_idx` ON `members` (`user`);--> statement-breakpoint
CREATE TABLE `messages` (
	`conv_id` text NOT NULL,
	`seq` integer NOT NULL,
	`id` integer NOT NULL,
	`sender` text NOT NULL,
	`device` text NOT NULL,
	`cid` text NOT NULL,
	`kind` integer NOT NULL,
	`body` blob NOT NULL,
	`ts` integer NOT NULL,
	PRIMARY KEY(`conv_id`, `seq`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `messages_client_id_idx` ON `messages` (`conv_id`,`sender`,`cid`) WHERE cid <> '';--> statement-breakpoint
CREATE INDEX `messages_ts_idx` ON `messages` (`ts`);