CREATE TABLE `media_usage` (
	`owner` text PRIMARY KEY NOT NULL,
	`day` integer NOT NULL,
	`bytes` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `media` ADD `expires_at` integer;--> statement-breakpoint
ALTER TABLE `media` ADD `object_key` text;--> statement-breakpoint
CREATE INDEX `media_owner_idx` ON `media` (`owner`,`expires_at`);--> statement-breakpoint
CREATE INDEX `media_expires_idx` ON `media` (`expires_at`);