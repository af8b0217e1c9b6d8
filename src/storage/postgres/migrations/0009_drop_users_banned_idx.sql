-- No query filters users on banned_at; every registration paid for the index.
DROP INDEX "users_banned_idx";
