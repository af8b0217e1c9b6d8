-- Media that was attached before attaching made an immutable copy is served from the key its
-- upload form wrote (media/<id>); the sweeper never touches it, since it has no slot.
UPDATE media SET object_key = 'media/' || id WHERE conv_id IS NOT NULL AND object_key IS NULL;
--> statement-breakpoint
-- Slots issued before slots expired get the default lifetime (media.unattachedTtlSec) from when
-- they were issued, so the sweeper deletes the ones never sent.
UPDATE media SET expires_at = created_at + 3600000 WHERE conv_id IS NULL AND expires_at IS NULL;
