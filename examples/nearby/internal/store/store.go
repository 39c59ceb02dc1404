package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Errors a person may see: the example shows them as they are, so they
// read as sentences without the package's name.
var (
	// ErrNameTaken is returned by [DB.Claim] for a name someone holds.
	ErrNameTaken = errors.New("the name is taken")
	// ErrUnknownToken is returned for a device token that holds no name:
	// never issued, released, or expired.
	ErrUnknownToken = errors.New("sign in again: this device's sign-in is unknown")
	// ErrUnknownUser is returned for a name that no one holds.
	ErrUnknownUser = errors.New("no such person")
	// ErrFull is returned by [DB.Claim] when [WithMaxUsers] names are held.
	ErrFull = errors.New("no more names can be claimed here")
	// ErrSelf is returned by [DB.AddDirect] for a message to its sender.
	ErrSelf = errors.New("you cannot send a message to yourself")
)

// Kinds of bad input, reached with errors.Is; the error itself says what
// was wrong (for example "text is longer than 280 characters").
var (
	ErrEmpty   = errors.New("store: empty")
	ErrTooLong = errors.New("store: too long")
	ErrInvalid = errors.New("store: invalid")
)

// ErrSchemaTooNew is returned by [Open] for a database whose schema
// version is newer than this program knows: it was written by a newer
// program, and this one would misread it.
var ErrSchemaTooNew = errors.New("store: the database was written by a newer version of this program")

// Limits on input, in characters (Unicode code points).
const (
	MaxName = 24
	MaxText = 280
	MaxArea = 100
)

// Bounds of a history query's n.
const (
	minHistory = 1
	maxHistory = 500
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are the schema's versions in order: migrations[i] brings a
// database from version i to version i+1.
var migrations = func() []string {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		panic(err)
	}
	// fs.Glob returns the names sorted, and they start with their version.
	out := make([]string, len(names))
	for i, name := range names {
		v, err := strconv.Atoi(filepath.Base(name)[:3])
		if err != nil || v != i+1 {
			panic(fmt.Sprintf("store: migration %s is not version %d", name, i+1))
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			panic(err)
		}
		out[i] = string(b)
	}
	return out
}()

// config is what the options set.
type config struct {
	maxUsers    int
	keep        int
	maxConv     int
	unusedAfter time.Duration
	busyTimeout time.Duration
	now         func() time.Time
}

// Option configures [Open].
type Option func(*config)

// WithMaxUsers sets how many names may be held at once; beyond it
// [DB.Claim] returns [ErrFull]. Zero keeps the default, 100000. Open
// panics if n is negative.
func WithMaxUsers(n int) Option {
	return func(c *config) { c.maxUsers = n }
}

// WithKeep sets how many messages each area chat and each conversation
// keeps; adding one beyond deletes the oldest. Zero keeps the default,
// 200. Open panics if n is negative.
func WithKeep(n int) Option {
	return func(c *config) { c.keep = n }
}

// WithMaxConversations sets how many conversations each name keeps;
// a message that starts one beyond deletes the conversations of that name
// whose last message is the oldest (for both of their parties). Zero keeps
// the default, 200. Open panics if n is negative.
func WithMaxConversations(n int) Option {
	return func(c *config) { c.maxConv = n }
}

// WithUnusedAfter sets how long a name may go unused (no [DB.Claim] or
// [DB.SignIn]) before it is released and its token stops working. The
// default is 90 days; zero keeps names forever. Open panics if d is
// negative.
func WithUnusedAfter(d time.Duration) Option {
	return func(c *config) { c.unusedAfter = d }
}

// WithBusyTimeout sets how long a write waits for another process that
// holds the database's write lock before it fails. Zero keeps the
// default, 5s. Open panics if d is negative.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = d }
}

// WithClock sets the clock that decides when a name was last used and
// when it expires (tests move it forward). The default, nil, is
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

func (c *config) validate() {
	switch {
	case c.maxUsers < 0:
		panic("store: WithMaxUsers: negative count")
	case c.keep < 0:
		panic("store: WithKeep: negative count")
	case c.maxConv < 0:
		panic("store: WithMaxConversations: negative count")
	case c.unusedAfter < 0:
		panic("store: WithUnusedAfter: negative duration")
	case c.busyTimeout < 0:
		panic("store: WithBusyTimeout: negative duration")
	}
	if c.maxUsers == 0 {
		c.maxUsers = 100_000
	}
	if c.keep == 0 {
		c.keep = 200
	}
	if c.maxConv == 0 {
		c.maxConv = 200
	}
	if c.busyTimeout == 0 {
		c.busyTimeout = 5 * time.Second
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// DB is an open store. Its methods are safe for concurrent use; Close it
// when done.
type DB struct {
	sql  *sql.DB
	cfg  config
	path string
	// wmu serializes this process's writes: SQLite allows one writer at
	// a time, and waiting here is cheaper than SQLite's busy retries.
	wmu sync.Mutex
}

// Open opens the database at path (for example <data dir>/nearby.db),
// creating its directory and the file if they do not exist, and migrates
// it to the newest schema. The database is in WAL mode with foreign keys
// on.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	cfg := config{unusedAfter: 90 * 24 * time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.validate()
	if path == "" {
		return nil, errors.New("store: open: no path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate") // a write transaction takes the lock first, so it never fails halfway to upgrade
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(8)
	sdb.SetMaxIdleConns(4)
	db := &DB{sql: sdb, cfg: cfg, path: path}
	if err := db.migrate(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database. Calls after Close return an error.
func (db *DB) Close() error {
	return db.sql.Close()
}

// Version returns the database's schema version.
func (db *DB) Version(ctx context.Context) (int, error) {
	var v int
	err := db.sql.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// SchemaVersion is the newest schema version this program knows.
func SchemaVersion() int { return len(migrations) }

// migrate applies the migrations the database lacks, each with its
// version record in one transaction.
func (db *DB) migrate(ctx context.Context) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	_, err := db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		applied INTEGER NOT NULL -- Unix milliseconds
	)`)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", db.path, err)
	}
	for {
		done, err := db.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any. Another process may be
// migrating the same file: the version is read inside the transaction.
func (db *DB) migrateOne(ctx context.Context) (done bool, err error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: open %s: %w", db.path, err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return false, fmt.Errorf("store: open %s: %w", db.path, err)
	}
	switch {
	case v > len(migrations):
		return false, fmt.Errorf("store: open %s: schema version %d, this program knows up to %d: %w", db.path, v, len(migrations), ErrSchemaTooNew)
	case v == len(migrations):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("store: open %s: migrate to version %d: %w", db.path, v+1, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, v+1, db.cfg.now().UnixMilli()); err != nil {
		return false, fmt.Errorf("store: open %s: migrate to version %d: %w", db.path, v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: open %s: migrate to version %d: %w", db.path, v+1, err)
	}
	return false, nil
}

// cutoff is the Unix millisecond before which a name's last use means it
// is released.
func (db *DB) cutoff() int64 {
	if db.cfg.unusedAfter == 0 {
		return math.MinInt64
	}
	return db.cfg.now().Add(-db.cfg.unusedAfter).UnixMilli()
}

// clamp bounds a history query's n.
func clamp(n int) int {
	return min(max(n, minHistory), maxHistory)
}
