-- The messages' (conv_id, seq) primary key leaves the commit path: each commit rewrote one page of
-- its index per conversation it touched. The table is rebuilt without a key (rows keep their
-- rowids: the message store reads the newest client ids back in rowid order), and message_seqs,
-- which the message store fills after its commits, indexes every row already stored. drizzle-kit
-- cannot express WITHOUT ROWID: this migration is written by hand (schema.ts says so).
CREATE TABLE `__new_messages` (
	`conv_id` text NOT NULL,
	`seq` integer NOT NULL,
	`id` integer NOT NULL,
	`sender` text NOT NULL,
	`device` text NOT NULL,
	`cid` text NOT NULL,
	`kind` integer NOT NULL,
	`body` blob NOT NULL,
	`ts` integer NOT NULL,
	`frame` blob,
	`media` text,
	`ref` integer,
	`edited` integer,
	`exp` integer
);
--> statement-breakpoint
INSERT INTO `__new_messages`(rowid, "conv_id", "seq", "id", "sender", "device", "cid", "kind", "body", "ts", "frame", "media", "ref", "edited", "exp") SELECT rowid, "conv_id", "seq", "id", "sender", "device", "cid", "kind", "body", "ts", "frame", "media", "ref", "edited", "exp" FROM `messages` ORDER BY rowid;
--> statement-breakpoint
DROP TABLE `messages`;
--> statement-breakpoint
ALTER TABLE `__new_messages` RENAME TO `messages`;
--> statement-breakpoint
CREATE INDEX `messages_exp_idx` ON `messages` (`exp`) WHERE exp IS NOT NULL;
--> statement-breakpoint
CREATE TABLE `message_seqs` (
	`conv_id` text NOT NULL,
	`seq` integer NOT NULL,
	`row` integer NOT NULL,
	PRIMARY KEY(`conv_id`, `seq`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `message_seqs` (`conv_id`, `seq`, `row`) SELECT `conv_id`, `seq`, rowid FROM `messages` ORDER BY `conv_id`, `seq`;
