-- A first connect registers its user and its device: two rows, and before this migration five
-- B-tree pages written (each table, each text primary key's own index, and an index on banned_at
-- that no query used). The index goes; both tables are rebuilt WITHOUT ROWID, so each row lives
-- in its primary key's B-tree alone. drizzle-kit cannot express WITHOUT ROWID: this part is
-- written by hand (schema.ts says so beside both tables).
DROP INDEX `users_banned_idx`;
--> statement-breakpoint
CREATE TABLE `__new_users` (
	`id` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL,
	`origin` text NOT NULL,
	`banned_at` integer,
	`ban_reason` text
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_users` (`id`, `created_at`, `origin`, `banned_at`, `ban_reason`) SELECT `id`, `created_at`, `origin`, `banned_at`, `ban_reason` FROM `users` ORDER BY `id`;
--> statement-breakpoint
DROP TABLE `users`;
--> statement-breakpoint
ALTER TABLE `__new_users` RENAME TO `users`;
--> statement-breakpoint
CREATE TABLE `__new_devices` (
	`user` text NOT NULL,
	`device` text NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL,
	`revoked_at` integer,
	PRIMARY KEY(`user`, `device`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_devices` (`user`, `device`, `first_seen`, `last_seen`, `revoked_at`) SELECT `user`, `device`, `first_seen`, `last_seen`, `revoked_at` FROM `devices` ORDER BY `user`, `device`;
--> statement-breakpoint
DROP TABLE `devices`;
--> statement-breakpoint
ALTER TABLE `__new_devices` RENAME TO `devices`;
