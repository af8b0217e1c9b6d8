-- Each message row holds its message as the MESSAGE push frame (schema.ts: messages.frame), which
-- a resume streams as stored. Nullable, added without rewriting the table: rows written before
-- keep their columns and are read from them.
ALTER TABLE `messages` ADD `frame` blob;
