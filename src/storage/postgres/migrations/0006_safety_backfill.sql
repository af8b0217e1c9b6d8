-- Users who authenticated before the registry existed are registered, from their first device.
-- (WHERE true: SQLite needs it before an upsert that follows a SELECT ... FROM; harmless here.)
INSERT INTO users (id, created_at, origin) SELECT "user", min(first_seen), 'login' FROM devices WHERE true GROUP BY "user" ON CONFLICT DO NOTHING;
--> statement-breakpoint
-- Conversations chosen before consent was recorded: the member who created or opened each one,
-- and every member who wrote in it (messages stored in this database), are in it by choice.
INSERT INTO member_consents (conv_id, "user", at)
  SELECT c.id, c.created_by, c.created_at FROM conversations c JOIN members m ON m.conv_id = c.id AND m."user" = c.created_by WHERE true
  ON CONFLICT DO NOTHING;
--> statement-breakpoint
INSERT INTO member_consents (conv_id, "user", at)
  SELECT m.conv_id, m."user", min(x.ts) FROM members m JOIN messages x ON x.conv_id = m.conv_id AND x.sender = m."user" AND x.kind <> 3 WHERE true
  GROUP BY m.conv_id, m."user"
  ON CONFLICT DO NOTHING;
