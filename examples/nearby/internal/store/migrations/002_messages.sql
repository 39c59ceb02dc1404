-- Version 2: the last messages of each area chat and each direct
-- conversation, and when each person was last seen.
ALTER TABLE users ADD COLUMN last_seen INTEGER; -- Unix milliseconds; NULL: never
-- The newest direct_messages.id when the name was claimed: a person who
-- claims a name someone held before does not read that person's messages.
ALTER TABLE users ADD COLUMN first_direct INTEGER NOT NULL DEFAULT 0;

CREATE TABLE area_messages (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	area   TEXT    NOT NULL,
	sender TEXT    NOT NULL, -- display spelling
	text   TEXT    NOT NULL,
	at     INTEGER NOT NULL  -- Unix milliseconds
);
CREATE INDEX area_messages_area ON area_messages (area, at, id);

-- A conversation is the pair (a, b) of the two names' keys, a < b.
CREATE TABLE direct_messages (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	a         TEXT    NOT NULL,
	b         TEXT    NOT NULL,
	sender    TEXT    NOT NULL, -- display spellings
	recipient TEXT    NOT NULL,
	text      TEXT    NOT NULL,
	at        INTEGER NOT NULL  -- Unix milliseconds
);
CREATE INDEX direct_messages_ab ON direct_messages (a, b, at, id);
CREATE INDEX direct_messages_b ON direct_messages (b, at, id);
