-- Version 1: people who claimed a display name with a device token.
CREATE TABLE users (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,        -- the spelling the person chose
	key        TEXT    NOT NULL UNIQUE, -- the name folded: unique case-insensitively
	token_hash BLOB    NOT NULL UNIQUE, -- SHA-256 of the device token
	created    INTEGER NOT NULL,        -- Unix milliseconds
	used       INTEGER NOT NULL         -- Unix milliseconds of the last Claim or SignIn
);
CREATE INDEX users_used ON users (used);
