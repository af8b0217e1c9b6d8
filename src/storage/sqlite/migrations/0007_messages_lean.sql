-- The message log keeps one index, its primary key: the client-id index tripled the pages each
-- group commit writes (src/storage/sqlite/schema.ts), and duplicates are now caught by the
-- message store; the timestamp index is made at open only when retention is on (db.ts).
DROP INDEX `messages_client_id_idx`;--> statement-breakpoint
DROP INDEX `messages_ts_idx`;
