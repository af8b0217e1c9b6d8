-- The message lifecycle: replies, edits and disappearing messages on messages (three nullable
-- columns: adding them rewrites nothing; the expiry index is partial, so only disappearing
-- messages have an entry), the conversation's timer, scheduled media deletion, and each user's
-- own settings and hidden messages.
CREATE TABLE `chat_settings` (
	`user` text NOT NULL,
	`conv_id` text NOT NULL,
	`mute_until` integer NOT NULL,
	`archived` integer NOT NULL,
	`pinned` integer NOT NULL,
	`unread` integer NOT NULL,
	PRIMARY KEY(`user`, `conv_id`)
);
--> statement-breakpoint
CREATE INDEX `chat_settings_mute_idx` ON `chat_settings` (`conv_id`,`mute_until`);--> statement-breakpoint
CREATE TABLE `hidden_messages` (
	`user` text NOT NULL,
	`conv_id` text NOT NULL,
	`seq` integer NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`user`, `conv_id`, `seq`)
);
--> statement-breakpoint
ALTER TABLE `conversations` ADD `timer` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `media` ADD `delete_at` integer;--> statement-breakpoint
CREATE INDEX `media_delete_idx` ON `media` (`delete_at`) WHERE delete_at IS NOT NULL;--> statement-breakpoint
ALTER TABLE `messages` ADD `ref` integer;--> statement-breakpoint
ALTER TABLE `messages` ADD `edited` integer;--> statement-breakpoint
ALTER TABLE `messages` ADD `exp` integer;--> statement-breakpoint
CREATE INDEX `messages_exp_idx` ON `messages` (`exp`) WHERE exp IS NOT NULL;