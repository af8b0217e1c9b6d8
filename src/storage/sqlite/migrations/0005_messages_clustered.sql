-- messages becomes a WITHOUT ROWID table clustered on (conv_id, seq): two B-trees per append
-- (the table and the client-id index) instead of four. The ts index is made at open only when
-- retention is on (src/storage/sqlite/db.ts). drizzle cannot declare WITHOUT ROWID, so it lives here.
DROP INDEX `messages_ts_idx`;--> statement-breakpoint
CREATE TABLE `messages_clustered` (
	`conv_id` text NOT NULL,
	`seq` integer NOT NULL,
	`id` integer NOT NULL,
	`sender` text NOT NULL,
	`device` text NOT NULL,
	`cid` text NOT NULL,
	`kind` integer NOT NULL,
	`body` blob NOT NULL,
	`ts` integer NOT NULL,
	`media` text,
	PRIMARY KEY(`conv_id`, `seq`)
) WITHOUT ROWID;--> statement-breakpoint
INSERT INTO `messages_clustered` (`conv_id`, `seq`, `id`, `sender`, `device`, `cid`, `kind`, `body`, `ts`, `media`)
	SELECT `conv_id`, `seq`, `id`, `sender`, `device`, `cid`, `kind`, `body`, `ts`, `media` FROM `messages`;--> statement-breakpoint
DROP TABLE `messages`;--> statement-breakpoint
ALTER TABLE `messages_clustered` RENAME TO `messages`;--> statement-breakpoint
CREATE UNIQUE INDEX `messages_client_id_idx` ON `messages` (`conv_id`,`sender`,`cid`) WHERE cid <> '';
