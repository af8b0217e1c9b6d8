-- End-to-end encryption (src/e2ee): KeyPackages waiting to be claimed, each conversation's MLS
-- group (id, epoch, the commit that started it) and who holds each leaf of its ratchet tree.
CREATE TABLE `mls_groups` (
	`conv_id` text PRIMARY KEY NOT NULL,
	`group_id` blob NOT NULL,
	`epoch` integer NOT NULL,
	`commit_seq` integer NOT NULL,
	`commit_hash` text NOT NULL,
	`pending` text,
	FOREIGN KEY (`conv_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `mls_key_packages` (
	`ref` text PRIMARY KEY NOT NULL,
	`user` text NOT NULL,
	`device` text NOT NULL,
	`body` blob NOT NULL,
	`last_resort` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `mls_key_packages_device_idx` ON `mls_key_packages` (`user`,`device`,`last_resort`,`created_at`);--> statement-breakpoint
CREATE TABLE `mls_leaves` (
	`conv_id` text NOT NULL,
	`leaf` integer NOT NULL,
	`user` text NOT NULL,
	`device` text NOT NULL,
	PRIMARY KEY(`conv_id`, `leaf`),
	FOREIGN KEY (`conv_id`) REFERENCES `conversations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `mls_leaves_device_idx` ON `mls_leaves` (`user`,`device`);