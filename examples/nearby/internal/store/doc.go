// Package store is the nearby example's durable storage: one SQLite file
// (modernc.org/sqlite, pure Go, no cgo) holding who has claimed which
// display name, the last messages of each area chat and each direct
// conversation, and when each person was last seen.
//
// # Identity
//
// A person claims a display name with [DB.Claim] and gets a device token
// back, which the page keeps; [DB.SignIn] with that token gives the name
// back on every later visit, and [DB.Release] frees the name (sign out).
// Only the token's SHA-256 is stored. Names are unique regardless of case
// and Unicode form: "Zoë", "ZOË" and "zoe\u0308" are the same name, and
// whoever holds it keeps the spelling they chose. A name unused for
// [WithUnusedAfter] is released.
//
// # Messages
//
// Messages are addressed by display names. [DB.AddDirect] does not require
// either name to be a user: the caller decides who may be written to (the
// example lets people write to its bots, which are not users). A person who
// claims a name that someone else held before does not read the earlier
// holder's direct messages. Messages stay when their author's name is
// released. Each area and each conversation keeps its last [WithKeep]
// messages; older ones are deleted as new ones arrive. Times are stored in
// milliseconds.
//
// # Limits
//
// Names are at most [MaxName] characters, texts at most [MaxText], area
// names at most [MaxArea]; longer, empty or malformed input is refused with
// an error that says why (errors.Is [ErrTooLong], [ErrEmpty] or
// [ErrInvalid]). At most [WithMaxUsers] names are held at once. History
// queries return between 1 and 500 messages.
//
// # Schema
//
// The schema is versioned: the table schema_migrations records each
// version applied, and [Open] applies the missing ones in order, each in
// one transaction. A database written by a newer program (a version this
// one does not know) is refused with [ErrSchemaTooNew].
//
// # Concurrency
//
// A [DB] is safe for use by many goroutines. Writes are serialized inside
// the process; the database is in WAL mode, so reads run alongside a
// write, and a busy timeout makes two processes sharing the file wait for
// each other rather than fail.
package store
