CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`admin` text NOT NULL,
	`device` text NOT NULL,
	`action` text NOT NULL,
	`target` text NOT NULL,
	`status` integer NOT NULL,
	`details` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `blocks` (
	`blocker` text NOT NULL,
	`blocked` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`blocker`, `blocked`)
);
--> statement-breakpoint
CREATE TABLE `contacts` (
	`owner` text NOT NULL,
	`contact` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`owner`, `contact`)
);
--> statement-breakpoint
CREATE TABLE `invitations` (
	`conv_id` text NOT NULL,
	`user` text NOT NULL,
	`by` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`conv_id`, `user`),
	FOREIGN KEY (`conv_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `invitations_user_idx` ON `invitations` (`user`);--> statement-breakpoint
CREATE TABLE `invite_links` (
	`token` text PRIMARY KEY NOT NULL,
	`conv_id` text NOT NULL,
	`by` text NOT NULL,
	`at` integer NOT NULL,
	`approval` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`conv_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `invite_links_conv_idx` ON `invite_links` (`conv_id`);--> statement-breakpoint
CREATE TABLE `join_requests` (
	`conv_id` text NOT NULL,
	`user` text NOT NULL,
	`token` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`conv_id`, `user`),
	FOREIGN KEY (`conv_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `member_consents` (
	`conv_id` text NOT NULL,
	`user` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`conv_id`, `user`),
	FOREIGN KEY (`conv_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `member_consents_user_idx` ON `member_consents` (`user`);--> statement-breakpoint
CREATE TABLE `privacy_settings` (
	`user` text PRIMARY KEY NOT NULL,
	`last_seen` text NOT NULL,
	`online` text NOT NULL,
	`group_add` text NOT NULL,
	`read_receipts` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `removed_messages` (
	`conv_id` text NOT NULL,
	`seq` integer NOT NULL,
	`sender` text NOT NULL,
	`media` text,
	`by` text NOT NULL,
	`reason` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`conv_id`, `seq`)
);
--> statement-breakpoint
CREATE TABLE `reports` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`reporter` text NOT NULL,
	`user` text NOT NULL,
	`conv_id` text,
	`seq` integer,
	`reason` text NOT NULL,
	`messages` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `reports_user_idx` ON `reports` (`user`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL,
	`origin` text NOT NULL,
	`banned_at` integer,
	`ban_reason` text
);
--> statement-breakpoint
CREATE INDEX `users_banned_idx` ON `users` (`banned_at`);