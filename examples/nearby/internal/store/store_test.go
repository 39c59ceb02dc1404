package store

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a settable clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// open opens a store in a new temporary directory and closes it at the
// end of the test; it returns the database's path too.
func open(t *testing.T, opts ...Option) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "nearby.db")
	db, err := Open(t.Context(), path, opts...)
	require.NoError(t, err, "open %s", path)
	t.Cleanup(func() { db.Close() })
	return db, path
}

// raw opens the database file with the driver alone, as another program
// would.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	r, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func TestClaimSignInRelease(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := open(t)

	token, err := db.Claim(ctx, "Alice")
	require.NoError(t, err)
	b, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err, "token %q is base64url", token)
	assert.Len(t, b, 32, "token bytes")

	name, err := db.SignIn(ctx, token)
	require.NoError(t, err)
	assert.Equal(t, "Alice", name)

	for _, other := range []string{"Alice", "alice", "ALICE", "ａｌｉｃｅ"} {
		_, err := db.Claim(ctx, other)
		assert.ErrorIs(t, err, ErrNameTaken, "claim %q while Alice holds it", other)
	}
	held, ok, err := db.Known(ctx, "aLiCe")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "Alice", held, "the held spelling")
	_, ok, err = db.Known(ctx, "Bob")
	require.NoError(t, err)
	assert.False(t, ok, "Bob")

	// Only the token's hash is stored.
	var stored []byte
	require.NoError(t, raw(t, path).QueryRowContext(ctx, `SELECT token_hash FROM users WHERE name = 'Alice'`).Scan(&stored))
	assert.Len(t, stored, 32)
	assert.NotEqual(t, b, stored, "the token itself is not stored")

	require.NoError(t, db.Release(ctx, token))
	_, err = db.SignIn(ctx, token)
	assert.ErrorIs(t, err, ErrUnknownToken, "sign in after release")
	assert.ErrorIs(t, db.Release(ctx, token), ErrUnknownToken, "release twice")
	_, ok, err = db.Known(ctx, "Alice")
	require.NoError(t, err)
	assert.False(t, ok, "Alice after release")

	token2, err := db.Claim(ctx, "alice")
	require.NoError(t, err, "a released name is free")
	assert.NotEqual(t, token, token2)
	name, err = db.SignIn(ctx, token2)
	require.NoError(t, err)
	assert.Equal(t, "alice", name)
}

func TestNamesAreUniqueAcrossUnicodeForms(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := open(t)
	_, err := db.Claim(ctx, "Zoë") // precomposed ë
	require.NoError(t, err)
	for _, other := range []string{"ZOË", "zoe\u0308", "Zoe\u0308", "ZOE\u0308"} {
		_, err := db.Claim(ctx, other)
		assert.ErrorIs(t, err, ErrNameTaken, "claim %q while Zoë holds it", other)
	}
	_, err = db.Claim(ctx, "Straße")
	require.NoError(t, err)
	_, err = db.Claim(ctx, "STRASSE")
	assert.ErrorIs(t, err, ErrNameTaken, "full case folding: ß is ss")
	_, err = db.Claim(ctx, "Zoe")
	assert.NoError(t, err, "Zoe is another name than Zoë")
}

func TestSignInUnknownTokens(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	_, err := db.Claim(t.Context(), "Alice")
	require.NoError(t, err)
	for _, token := range []string{
		"",
		"garbage",
		strings.Repeat("!", 43),
		strings.Repeat("A", 43),                // well formed, never issued
		strings.Repeat("A", 10000),             // oversized
		base64.StdEncoding.EncodeToString(nil), // empty
	} {
		_, err := db.SignIn(t.Context(), token)
		assert.ErrorIs(t, err, ErrUnknownToken, "sign in with %.20q", token)
		assert.ErrorIs(t, db.Release(t.Context(), token), ErrUnknownToken, "release %.20q", token)
	}
	assert.Equal(t, "sign in again: this device's sign-in is unknown", ErrUnknownToken.Error(), "the page shows it as it is")
}

func TestClaimFull(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := open(t, WithMaxUsers(2))
	ta, err := db.Claim(ctx, "a")
	require.NoError(t, err)
	_, err = db.Claim(ctx, "b")
	require.NoError(t, err)
	_, err = db.Claim(ctx, "c")
	require.ErrorIs(t, err, ErrFull)
	_, err = db.Claim(ctx, "a")
	assert.ErrorIs(t, err, ErrNameTaken, "a held name is taken, full or not")

	require.NoError(t, db.Release(ctx, ta))
	_, err = db.Claim(ctx, "c")
	assert.NoError(t, err, "a release makes room")
}

func TestUnusedNamesExpire(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	db, _ := open(t, WithUnusedAfter(24*time.Hour), WithClock(clk.now))

	token, err := db.Claim(ctx, "Alice")
	require.NoError(t, err)
	require.NoError(t, db.SetLastSeen(ctx, "Alice", clk.now()))
	clk.advance(23 * time.Hour)
	_, err = db.SignIn(ctx, token)
	require.NoError(t, err, "used within a day")
	clk.advance(23 * time.Hour) // 46h after the claim, 23h after the sign-in
	_, err = db.SignIn(ctx, token)
	require.NoError(t, err, "a sign-in keeps the name")

	clk.advance(24*time.Hour + time.Millisecond)
	_, err = db.SignIn(ctx, token)
	assert.ErrorIs(t, err, ErrUnknownToken, "unused for more than a day")
	_, ok, err := db.Known(ctx, "Alice")
	require.NoError(t, err)
	assert.False(t, ok, "an expired name is not known")
	seen, err := db.LastSeen(ctx, "Alice")
	require.NoError(t, err)
	assert.Empty(t, seen, "an expired name has no last seen")
	assert.ErrorIs(t, db.SetLastSeen(ctx, "Alice", clk.now()), ErrUnknownUser)

	token2, err := db.Claim(ctx, "ALICE")
	require.NoError(t, err, "an expired name is free")
	name, err := db.SignIn(ctx, token2)
	require.NoError(t, err)
	assert.Equal(t, "ALICE", name)
	_, err = db.SignIn(ctx, token)
	assert.ErrorIs(t, err, ErrUnknownToken, "the old token stays unknown")
	seen, err = db.LastSeen(ctx, "Alice")
	require.NoError(t, err)
	assert.Empty(t, seen, "the new holder does not inherit the last seen")
}

func TestUnusedAfterZeroKeepsNames(t *testing.T) {
	t.Parallel()
	clk := newClock()
	db, _ := open(t, WithUnusedAfter(0), WithClock(clk.now))
	token, err := db.Claim(t.Context(), "Alice")
	require.NoError(t, err)
	clk.advance(10 * 365 * 24 * time.Hour)
	name, err := db.SignIn(t.Context(), token)
	require.NoError(t, err, "ten years later")
	assert.Equal(t, "Alice", name)
}

// at is a message time: minute i after a fixed moment.
func at(i int) time.Time {
	return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
}

func texts(msgs []Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Text
	}
	return out
}

func TestAreaHistory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := open(t, WithKeep(3))

	for i := range 5 {
		require.NoError(t, db.AddAreaMessage(ctx, "Museum Island", "Alice", fmt.Sprint("m", i), at(i)))
	}
	require.NoError(t, db.AddAreaMessage(ctx, "Tiergarten", "Bob", "elsewhere", at(10)))
	// An earlier time written later sorts by its time.
	require.NoError(t, db.AddAreaMessage(ctx, "Tiergarten", "Bob", "earlier", at(9)))

	msgs, err := db.AreaHistory(ctx, "Museum Island", 50)
	require.NoError(t, err)
	assert.Equal(t, []string{"m2", "m3", "m4"}, texts(msgs), "the last WithKeep, oldest first")
	require.Len(t, msgs, 3)
	assert.Equal(t, Message{From: "Alice", Area: "Museum Island", Text: "m4", Time: at(4)}, msgs[2])
	assert.True(t, msgs[2].Time.Equal(at(4)))

	msgs, err = db.AreaHistory(ctx, "Museum Island", 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"m3", "m4"}, texts(msgs), "the last n")
	msgs, err = db.AreaHistory(ctx, "Museum Island", 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"m4"}, texts(msgs), "n below 1 is 1")
	msgs, err = db.AreaHistory(ctx, "Tiergarten", 50)
	require.NoError(t, err)
	assert.Equal(t, []string{"earlier", "elsewhere"}, texts(msgs), "by time, not by insertion")
	msgs, err = db.AreaHistory(ctx, "Nowhere", 50)
	require.NoError(t, err)
	assert.Empty(t, msgs)

	var rows int
	require.NoError(t, raw(t, path).QueryRowContext(ctx, `SELECT COUNT(*) FROM area_messages WHERE area = 'Museum Island'`).Scan(&rows))
	assert.Equal(t, 3, rows, "older messages are deleted, not only hidden")
}

func TestHistoryClampsN(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := open(t, WithKeep(600))
	for i := range 520 {
		require.NoError(t, db.AddAreaMessage(ctx, "A", "Alice", fmt.Sprint(i), at(i)))
		require.NoError(t, db.AddDirect(ctx, "Alice", "Bob", fmt.Sprint(i), at(i)))
	}
	msgs, err := db.AreaHistory(ctx, "A", 1_000_000)
	require.NoError(t, err)
	require.Len(t, msgs, 500, "n above 500 is 500")
	assert.Equal(t, "519", msgs[499].Text)
	msgs, err = db.Conversation(ctx, "Alice", "Bob", -1)
	require.NoError(t, err)
	assert.Len(t, msgs, 1, "n below 1 is 1")
	msgs, err = db.Conversation(ctx, "Alice", "Bob", 1_000_000)
	require.NoError(t, err)
	assert.Len(t, msgs, 500, "n above 500 is 500")
}

func TestConversations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, path := open(t, WithKeep(3))

	require.NoError(t, db.AddDirect(ctx, "Alice", "Bob", "hi Bob", at(1)))
	require.NoError(t, db.AddDirect(ctx, "bob", "Alice", "hi Alice", at(2)))
	require.NoError(t, db.AddDirect(ctx, "Alice", "Carol", "hi Carol", at(3)))
	require.NoError(t, db.AddDirect(ctx, "Ada (bot)", "Carol", "beep", at(4)))

	msgs, err := db.Conversation(ctx, "BOB", "alice", 50)
	require.NoError(t, err)
	assert.Equal(t, []Message{
		{From: "Alice", To: "Bob", Text: "hi Bob", Time: at(1)},
		{From: "bob", To: "Alice", Text: "hi Alice", Time: at(2)},
	}, msgs, "both directions, oldest first, in any case")

	convs, err := db.Conversations(ctx, "alice", 50)
	require.NoError(t, err)
	assert.Equal(t, []Conversation{
		{With: "Carol", Last: Message{From: "Alice", To: "Carol", Text: "hi Carol", Time: at(3)}},
		{With: "bob", Last: Message{From: "bob", To: "Alice", Text: "hi Alice", Time: at(2)}},
	}, convs, "newest first, each with its last message")
	convs, err = db.Conversations(ctx, "Carol", 1)
	require.NoError(t, err)
	require.Len(t, convs, 1, "n is a limit")
	assert.Equal(t, "Ada (bot)", convs[0].With)
	convs, err = db.Conversations(ctx, "Dave", 50)
	require.NoError(t, err)
	assert.Empty(t, convs)

	for i := range 5 {
		require.NoError(t, db.AddDirect(ctx, "Alice", "Bob", fmt.Sprint("more ", i), at(10+i)))
	}
	msgs, err = db.Conversation(ctx, "Alice", "Bob", 50)
	require.NoError(t, err)
	assert.Equal(t, []string{"more 2", "more 3", "more 4"}, texts(msgs), "a conversation keeps WithKeep messages")
	msgs, err = db.Conversation(ctx, "Alice", "Carol", 50)
	require.NoError(t, err)
	assert.Equal(t, []string{"hi Carol"}, texts(msgs), "pruning is per conversation")
	var rows int
	require.NoError(t, raw(t, path).QueryRowContext(ctx, `SELECT COUNT(*) FROM direct_messages`).Scan(&rows))
	assert.Equal(t, 5, rows, "3 + 1 + 1 stored")
}

// A person who claims a name someone held before does not read that
// person's messages; the messages themselves stay.
func TestNewHolderDoesNotReadEarlierMessages(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := open(t)
	tokenA, err := db.Claim(ctx, "Alice")
	require.NoError(t, err)
	_, err = db.Claim(ctx, "Bob")
	require.NoError(t, err)
	require.NoError(t, db.AddDirect(ctx, "Bob", "Alice", "secret", at(1)))
	require.NoError(t, db.AddAreaMessage(ctx, "A", "Alice", "hello all", at(1)))
	require.NoError(t, db.Release(ctx, tokenA))

	msgs, err := db.Conversation(ctx, "Bob", "Alice", 50)
	require.NoError(t, err)
	assert.Equal(t, []string{"secret"}, texts(msgs), "released, the messages stay")

	_, err = db.Claim(ctx, "alice")
	require.NoError(t, err)
	msgs, err = db.Conversation(ctx, "alice", "Bob", 50)
	require.NoError(t, err)
	assert.Empty(t, msgs, "the new alice does not read the old Alice's messages")
	convs, err := db.Conversations(ctx, "alice", 50)
	require.NoError(t, err)
	assert.Empty(t, convs)
	convs, err = db.Conversations(ctx, "Bob", 50)
	require.NoError(t, err)
	assert.Empty(t, convs, "nor does Bob see them as a conversation with the new alice")

	require.NoError(t, db.AddDirect(ctx, "Bob", "alice", "welcome", at(2)))
	msgs, err = db.Conversation(ctx, "alice", "Bob", 50)
	require.NoError(t, err)
	assert.Equal(t, []string{"welcome"}, texts(msgs))
	msgs, err = db.AreaHistory(ctx, "A", 50)
	require.NoError(t, err)
	assert.Equal(t, []string{"hello all"}, texts(msgs), "area chat is public and stays")
}

func TestPersistsAcrossRestarts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "nearby.db")
	db, err := Open(ctx, path)
	require.NoError(t, err, "Open creates the directory")
	token, err := db.Claim(ctx, "Alice")
	require.NoError(t, err)
	_, err = db.Claim(ctx, "Bob")
	require.NoError(t, err)
	seen := time.Date(2026, 5, 1, 12, 34, 56, 789_000_000, time.UTC)
	require.NoError(t, db.SetLastSeen(ctx, "alice", seen))
	require.NoError(t, db.AddAreaMessage(ctx, "A", "Alice", "kept", at(1)))
	require.NoError(t, db.AddDirect(ctx, "Alice", "Bob", "kept too", at(2)))
	require.NoError(t, db.Close())

	db, err = Open(ctx, path)
	require.NoError(t, err, "reopen")
	defer db.Close()
	name, err := db.SignIn(ctx, token)
	require.NoError(t, err)
	assert.Equal(t, "Alice", name)
	last, err := db.LastSeen(ctx, "Alice", "ALICE", "Bob", "nobody", "")
	require.NoError(t, err)
	assert.Len(t, last, 2, "Bob has no last seen, nobody is no one: %v", last)
	assert.True(t, last["Alice"].Equal(seen), "Alice last seen %v, want %v", last["Alice"], seen)
	assert.True(t, last["ALICE"].Equal(seen), "keyed by the names as given")
	msgs, err := db.AreaHistory(ctx, "A", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"kept"}, texts(msgs))
	msgs, err = db.Conversation(ctx, "Bob", "Alice", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"kept too"}, texts(msgs))
	assert.ErrorIs(t, db.SetLastSeen(ctx, "nobody", seen), ErrUnknownUser)
	assert.ErrorIs(t, db.SetLastSeen(ctx, strings.Repeat("x", 30), seen), ErrUnknownUser)
}

func TestLastSeenManyNames(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := open(t)
	names := make([]string, 450) // more than one query's batch
	for i := range names {
		names[i] = fmt.Sprint("user", i)
		if i%3 == 0 {
			_, err := db.Claim(ctx, names[i])
			require.NoError(t, err)
			require.NoError(t, db.SetLastSeen(ctx, names[i], at(i)))
		}
	}
	seen, err := db.LastSeen(ctx, names...)
	require.NoError(t, err)
	assert.Len(t, seen, 150)
	assert.True(t, seen["user399"].Equal(at(399)))
	assert.NotContains(t, seen, "user400")
}

// v1 is version 1 of the schema as the first program wrote it.
const v1 = `
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL);
INSERT INTO schema_migrations VALUES (1, 0);
CREATE TABLE users (
	id INTEGER PRIMARY KEY, name TEXT NOT NULL, key TEXT NOT NULL UNIQUE,
	token_hash BLOB NOT NULL UNIQUE, created INTEGER NOT NULL, used INTEGER NOT NULL);
CREATE INDEX users_used ON users (used);
`

func TestMigrations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("fresh", func(t *testing.T) {
		t.Parallel()
		db, path := open(t)
		v, err := db.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, SchemaVersion(), v)
		assert.GreaterOrEqual(t, v, 2)
		var versions int
		require.NoError(t, raw(t, path).QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions))
		assert.Equal(t, v, versions, "one record per version")
		var mode string
		require.NoError(t, raw(t, path).QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
		assert.Equal(t, "wal", mode)
	})

	t.Run("from version 1", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "old.db")
		r := raw(t, path)
		_, err := r.ExecContext(ctx, v1)
		require.NoError(t, err)
		// Alice claimed her name with version 1: her device keeps this token.
		token := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
		hash, ok := tokenHash(token)
		require.True(t, ok)
		now := time.Now().UnixMilli()
		_, err = r.ExecContext(ctx, `INSERT INTO users (name, key, token_hash, created, used) VALUES ('Alice', 'alice', ?, ?, ?)`, hash, now, now)
		require.NoError(t, err)
		require.NoError(t, r.Close())

		db, err := Open(ctx, path)
		require.NoError(t, err, "migrate from version 1")
		defer db.Close()
		v, err := db.Version(ctx)
		require.NoError(t, err)
		assert.Equal(t, SchemaVersion(), v)
		name, err := db.SignIn(ctx, token)
		require.NoError(t, err, "a version 1 user signs in")
		assert.Equal(t, "Alice", name)
		require.NoError(t, db.SetLastSeen(ctx, "Alice", at(1)))
		require.NoError(t, db.AddDirect(ctx, "Bob", "Alice", "hi", at(2)))
		msgs, err := db.Conversation(ctx, "Alice", "Bob", 10)
		require.NoError(t, err)
		assert.Equal(t, []string{"hi"}, texts(msgs))
		_, err = db.Claim(ctx, "ALICE")
		assert.ErrorIs(t, err, ErrNameTaken)
	})

	t.Run("newer refused", func(t *testing.T) {
		t.Parallel()
		db, path := open(t)
		require.NoError(t, db.Close())
		_, err := raw(t, path).ExecContext(ctx, `INSERT INTO schema_migrations VALUES (99, 0)`)
		require.NoError(t, err)
		_, err = Open(ctx, path)
		require.ErrorIs(t, err, ErrSchemaTooNew)
		assert.Contains(t, err.Error(), "schema version 99")
	})

	t.Run("migration failure rolls back", func(t *testing.T) {
		t.Parallel()
		// A version 1 database that already has a table version 2 creates:
		// version 2 fails and none of it stays.
		path := filepath.Join(t.TempDir(), "odd.db")
		r := raw(t, path)
		_, err := r.ExecContext(ctx, v1+`CREATE TABLE direct_messages (x INTEGER);`)
		require.NoError(t, err)
		_, err = Open(ctx, path)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "migrate to version 2")
		var v int
		require.NoError(t, r.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v))
		assert.Equal(t, 1, v)
		var n int
		require.NoError(t, r.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('users') WHERE name = 'last_seen'`).Scan(&n))
		assert.Zero(t, n, "version 2's first statement was rolled back")
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := open(t)
	long := func(n int) string { return strings.Repeat("é", n) }
	tests := []struct {
		name string
		do   func() error
		kind error
		msg  string
	}{
		{"empty name", func() error { _, err := db.Claim(ctx, ""); return err }, ErrEmpty, "name is empty"},
		{"blank name", func() error { _, err := db.Claim(ctx, "   "); return err }, ErrEmpty, "name is empty"},
		{"long name", func() error { _, err := db.Claim(ctx, long(25)); return err }, ErrTooLong, "name is longer than 24 characters"},
		{"untrimmed name", func() error { _, err := db.Claim(ctx, " Bob"); return err }, ErrInvalid, "name must not start or end with spaces"},
		{"control in name", func() error { _, err := db.Claim(ctx, "Bo\x00b"); return err }, ErrInvalid, "name must not contain control characters"},
		{"invalid UTF-8 name", func() error { _, err := db.Claim(ctx, "Bo\xffb"); return err }, ErrInvalid, "name is not valid UTF-8"},
		{"long text", func() error { return db.AddAreaMessage(ctx, "A", "Bob", long(281), at(1)) }, ErrTooLong, "text is longer than 280 characters"},
		{"empty text", func() error { return db.AddAreaMessage(ctx, "A", "Bob", "", at(1)) }, ErrEmpty, "text is empty"},
		{"empty area", func() error { return db.AddAreaMessage(ctx, "", "Bob", "hi", at(1)) }, ErrEmpty, "area is empty"},
		{"long area", func() error { return db.AddAreaMessage(ctx, long(101), "Bob", "hi", at(1)) }, ErrTooLong, "area is longer than 100 characters"},
		{"long sender", func() error { return db.AddAreaMessage(ctx, "A", long(25), "hi", at(1)) }, ErrTooLong, "sender's name is longer than 24 characters"},
		{"long DM", func() error { return db.AddDirect(ctx, "Bob", "Alice", long(281), at(1)) }, ErrTooLong, "text is longer than 280 characters"},
		{"DM to nobody", func() error { return db.AddDirect(ctx, "Bob", "", "hi", at(1)) }, ErrEmpty, "recipient's name is empty"},
		{"DM to self", func() error { return db.AddDirect(ctx, "Bob", "BOB", "hi", at(1)) }, ErrSelf, "you cannot send a message to yourself"},
		{"history of no area", func() error { _, err := db.AreaHistory(ctx, "", 5); return err }, ErrEmpty, "area is empty"},
		{"conversation with a long name", func() error { _, err := db.Conversation(ctx, "Bob", long(25), 5); return err }, ErrTooLong, "name is longer than 24 characters"},
		{"conversations of no one", func() error { _, err := db.Conversations(ctx, "", 5); return err }, ErrEmpty, "name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			require.ErrorIs(t, err, tt.kind)
			assert.Equal(t, tt.msg, err.Error())
		})
	}

	// The limits themselves are fine.
	_, err := db.Claim(ctx, long(24))
	require.NoError(t, err, "24 characters (48 bytes)")
	require.NoError(t, db.AddAreaMessage(ctx, long(100), long(24), long(280), at(1)), "280 characters")
	require.NoError(t, db.AddDirect(ctx, "Bob", long(24), long(280), at(1)))
	_, ok, err := db.Known(ctx, long(25))
	require.NoError(t, err, "Known of a name no one can hold")
	assert.False(t, ok)
}

func TestWriteFailureIsReported(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("failing write", func(t *testing.T) {
		t.Parallel()
		db, path := open(t)
		_, err := raw(t, path).ExecContext(ctx, `
			CREATE TRIGGER broken BEFORE INSERT ON area_messages BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;
			CREATE TRIGGER broken2 BEFORE INSERT ON direct_messages BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;
			CREATE TRIGGER broken3 BEFORE UPDATE ON users BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;`)
		require.NoError(t, err)
		_, err = db.Claim(ctx, "Alice")
		require.NoError(t, err)

		err = db.AddAreaMessage(ctx, "A", "Alice", "hi", at(1))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "disk on fire")
		err = db.AddDirect(ctx, "Alice", "Bob", "hi", at(1))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "disk on fire")
		err = db.SetLastSeen(ctx, "Alice", at(1))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "disk on fire")
		assert.NotErrorIs(t, err, ErrUnknownUser)
		msgs, err := db.AreaHistory(ctx, "A", 5)
		require.NoError(t, err)
		assert.Empty(t, msgs, "nothing half-written")
	})

	t.Run("locked by another program", func(t *testing.T) {
		t.Parallel()
		db, path := open(t, WithBusyTimeout(20*time.Millisecond))
		r := raw(t, path)
		conn, err := r.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.ExecContext(ctx, `BEGIN EXCLUSIVE`)
		require.NoError(t, err)
		_, err = db.Claim(ctx, "Alice")
		require.Error(t, err, "claim while another program writes")
		assert.NotErrorIs(t, err, ErrNameTaken)
		err = db.AddAreaMessage(ctx, "A", "Alice", "hi", at(1))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "store: add a message to A")
		_, err = conn.ExecContext(ctx, `ROLLBACK`)
		require.NoError(t, err)
		_, err = db.Claim(ctx, "Alice")
		assert.NoError(t, err, "the lock is gone")
	})

	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		db, _ := open(t)
		token, err := db.Claim(ctx, "Alice")
		require.NoError(t, err)
		require.NoError(t, db.Close())
		_, err = db.Claim(ctx, "Bob")
		assert.Error(t, err, "claim")
		_, err = db.SignIn(ctx, token)
		assert.Error(t, err, "sign in")
		assert.NotErrorIs(t, err, ErrUnknownToken, "a failure is not an unknown token")
		assert.Error(t, db.Release(ctx, token), "release")
		assert.Error(t, db.AddAreaMessage(ctx, "A", "Alice", "hi", at(1)), "area message")
		assert.Error(t, db.AddDirect(ctx, "Alice", "Bob", "hi", at(1)), "direct message")
		assert.Error(t, db.SetLastSeen(ctx, "Alice", at(1)), "last seen")
		_, _, err = db.Known(ctx, "Alice")
		assert.Error(t, err, "known")
		_, err = db.LastSeen(ctx, "Alice")
		assert.Error(t, err, "last seen")
		_, err = db.AreaHistory(ctx, "A", 5)
		assert.Error(t, err, "area history")
		_, err = db.Conversation(ctx, "Alice", "Bob", 5)
		assert.Error(t, err, "conversation")
		_, err = db.Conversations(ctx, "Alice", 5)
		assert.Error(t, err, "conversations")
	})

	t.Run("cannot create", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		file := filepath.Join(dir, "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		_, err := Open(ctx, filepath.Join(file, "nearby.db"))
		require.Error(t, err, "a data directory that is a file")
		_, err = Open(ctx, "")
		require.Error(t, err, "no path")
	})
}

func TestOptionsPanicOnNegative(t *testing.T) {
	t.Parallel()
	for _, o := range []Option{WithMaxUsers(-1), WithKeep(-1), WithUnusedAfter(-time.Second), WithBusyTimeout(-time.Second)} {
		assert.Panics(t, func() { Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), o) })
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, _ := open(t, WithKeep(1000))
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*6)
	for w := range workers {
		wg.Go(func() {
			name := fmt.Sprint("worker", w)
			token, err := db.Claim(ctx, name)
			if err != nil {
				errs <- err
				return
			}
			for i := range each {
				if got, err := db.SignIn(ctx, token); err != nil || got != name {
					errs <- fmt.Errorf("sign in %s: %q, %v", name, got, err)
				}
				errs <- db.AddAreaMessage(ctx, "A", name, fmt.Sprint(i), time.Time{})
				errs <- db.AddDirect(ctx, name, "hub", fmt.Sprint(i), time.Time{})
				errs <- db.SetLastSeen(ctx, name, at(i))
				_, err := db.AreaHistory(ctx, "A", 50)
				errs <- err
				_, err = db.Conversations(ctx, "hub", 50)
				errs <- err
			}
		})
	}
	// Many claim one name at once: exactly one gets it.
	var won sync.Map
	for i := range 8 {
		wg.Go(func() {
			if _, err := db.Claim(ctx, "Zed"); err == nil {
				won.Store(i, true)
			} else if err != ErrNameTaken {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	winners := 0
	won.Range(func(any, any) bool { winners++; return true })
	assert.Equal(t, 1, winners, "one claim of Zed wins")

	msgs, err := db.AreaHistory(ctx, "A", 500)
	require.NoError(t, err)
	assert.Len(t, msgs, workers*each, "every message stored")
	convs, err := db.Conversations(ctx, "hub", 50)
	require.NoError(t, err)
	assert.Len(t, convs, workers)
}

// A device that made its own token holds the name even if the answer to
// its claim was lost: claiming again with the token signs in.
func TestClaimWithOwnToken(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := t.Context()
	token := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	require.NoError(t, db.ClaimWith(ctx, "Zed", token))
	require.NoError(t, db.ClaimWith(ctx, "zed", token), "again, the answer lost: signed in")
	name, err := db.SignIn(ctx, token)
	require.NoError(t, err)
	assert.Equal(t, "Zed", name)

	other, err := db.Claim(ctx, "Amy")
	require.NoError(t, err)
	assert.ErrorIs(t, db.ClaimWith(ctx, "ZED", other), ErrInvalid, "a device holding a name claims no other")
	assert.EqualError(t, db.ClaimWith(ctx, "Bea", other), "this device holds another name: sign out first")
	fresh := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	assert.ErrorIs(t, db.ClaimWith(ctx, "zED", fresh), ErrNameTaken)
	assert.EqualError(t, db.ClaimWith(ctx, "Cy", "short"), "token must be 32 random bytes in base64url")
}

// Names that would look like another are refused: invisible characters
// (zero-width, variation selectors, bidirectional marks); and Key folds
// look-alike forms, so a suffix check on it catches them.
func TestInvisibleNamesRefused(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	for _, name := range []string{"Alice\u200b", "Al\u200dice", "Alice\ufe0f", "\u202eecilA", "Ali\u00adce"} {
		_, err := db.Claim(t.Context(), name)
		assert.ErrorIs(t, err, ErrInvalid, "%q", name)
		assert.EqualError(t, err, "name must not contain invisible characters", "%q", name)
	}
	assert.Equal(t, "ada (bot)", Key("Ada （Bot）"))
}

// A client claiming name after name to write to one person leaves at most
// WithMaxConversations conversations with them, each at most WithKeep
// messages.
func TestConversationsBounded(t *testing.T) {
	t.Parallel()
	db, _ := open(t, WithKeep(5), WithMaxConversations(10))
	ctx := t.Context()
	_, err := db.Claim(ctx, "bob")
	require.NoError(t, err)
	for i := range 100 {
		name := fmt.Sprintf("spam%d", i)
		token, err := db.Claim(ctx, name)
		require.NoError(t, err)
		for j := range 6 {
			require.NoError(t, db.AddDirect(ctx, name, "bob", fmt.Sprintf("msg %d", j), time.Time{}))
		}
		require.NoError(t, db.Release(ctx, token))
	}
	var kept int
	require.NoError(t, db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM direct_messages`).Scan(&kept))
	assert.Equal(t, 10*5, kept)
	conv, err := db.Conversations(ctx, "bob", 500)
	require.NoError(t, err)
	require.Len(t, conv, 10)
	assert.Equal(t, "spam99", conv[0].With, "the newest kept")
	assert.Equal(t, "spam90", conv[9].With)
}
