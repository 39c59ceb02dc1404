package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// tokenBytes is the device token's size before encoding.
const tokenBytes = 32

// Claim makes a new user holding name and returns the device token that
// signs in as them: 32 random bytes, base64url without padding. Only the
// token's SHA-256 is stored. It returns [ErrNameTaken] if someone holds the
// name (in any case or Unicode form), [ErrFull] if [WithMaxUsers] names are
// held, and an input error (see [MaxName]) for a name that is empty, too
// long, has spaces at either end or control characters.
func (db *DB) Claim(ctx context.Context, name string) (token string, err error) {
	raw := make([]byte, tokenBytes)
	rand.Read(raw) // never fails (crypto/rand)
	token = base64.RawURLEncoding.EncodeToString(raw)
	return token, db.ClaimWith(ctx, name, token)
}

// ClaimWith is [Claim] with the device's own token, which the device made
// (32 random bytes, base64url without padding: 43 characters) and kept
// before asking: should the answer be lost, the device still holds the
// name. Claiming again a name the token holds signs in ([DB.SignIn]); a
// token that holds another name is refused with [ErrInvalid] (sign out
// first), and one of the wrong form too.
func (db *DB) ClaimWith(ctx context.Context, name, token string) error {
	if err := checkName("name", name); err != nil {
		return err
	}
	hash, ok := tokenHash(token)
	if !ok {
		return badInput(ErrInvalid, "token must be 32 random bytes in base64url")
	}
	if held, err := db.SignIn(ctx, token); err == nil {
		if key(held) != key(name) {
			return badInput(ErrInvalid, "this device holds another name: sign out first")
		}
		return nil
	} else if !errors.Is(err, ErrUnknownToken) {
		return err
	}

	db.wmu.Lock()
	defer db.wmu.Unlock()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: claim %q: %w", name, err)
	}
	defer tx.Rollback()
	// Names unused too long are released now, before they are counted.
	if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE used < ?`, db.cutoff()); err != nil {
		return fmt.Errorf("store: claim %q: %w", name, err)
	}
	var taken, held int
	err = tx.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM users WHERE key = ?),
		(SELECT COUNT(*) FROM users)`, key(name)).Scan(&taken, &held)
	switch {
	case err != nil:
		return fmt.Errorf("store: claim %q: %w", name, err)
	case taken > 0:
		return ErrNameTaken
	case held >= db.cfg.maxUsers:
		return ErrFull
	}
	now := db.cfg.now().UnixMilli()
	_, err = tx.ExecContext(ctx, `INSERT INTO users (name, key, token_hash, created, used, first_direct)
		VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(id), 0) FROM direct_messages))`,
		name, key(name), hash, now, now)
	if err != nil {
		return fmt.Errorf("store: claim %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: claim %q: %w", name, err)
	}
	return nil
}

// tokenHash is the stored form of a device token; ok is false for a token
// that Claim cannot have made.
func tokenHash(token string) (hash []byte, ok bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, false
	}
	h := sha256.Sum256(raw)
	return h[:], true
}

// SignIn returns the name that token holds and marks the name used now
// (see [WithUnusedAfter]). It returns [ErrUnknownToken] for a token that
// holds no name: never issued, released, or expired.
func (db *DB) SignIn(ctx context.Context, token string) (name string, err error) {
	hash, ok := tokenHash(token)
	if !ok {
		return "", ErrUnknownToken
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	err = db.sql.QueryRowContext(ctx, `UPDATE users SET used = ?
		WHERE token_hash = ? AND used >= ? RETURNING name`,
		db.cfg.now().UnixMilli(), hash, db.cutoff()).Scan(&name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", ErrUnknownToken
	case err != nil:
		return "", fmt.Errorf("store: sign in: %w", err)
	}
	return name, nil
}

// Release frees the name that token holds (signing out): anyone may
// claim it, and the token stops working. The name's messages stay. It
// returns [ErrUnknownToken] for a token that holds no name.
func (db *DB) Release(ctx context.Context, token string) error {
	hash, ok := tokenHash(token)
	if !ok {
		return ErrUnknownToken
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	res, err := db.sql.ExecContext(ctx, `DELETE FROM users WHERE token_hash = ? AND used >= ?`, hash, db.cutoff())
	if err != nil {
		return fmt.Errorf("store: release: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: release: %w", err)
	} else if n == 0 {
		return ErrUnknownToken
	}
	return nil
}

// Known reports whether someone holds name, in any case or Unicode form,
// and returns the spelling they hold it with. A name that cannot be held
// (empty, too long) is not known; that is not an error.
func (db *DB) Known(ctx context.Context, name string) (held string, ok bool, err error) {
	if checkName("name", name) != nil {
		return "", false, nil
	}
	err = db.sql.QueryRowContext(ctx, `SELECT name FROM users WHERE key = ? AND used >= ?`,
		key(name), db.cutoff()).Scan(&held)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("store: look up %q: %w", name, err)
	}
	return held, true, nil
}

// SetLastSeen records that the user holding name was last online at at
// (kept in milliseconds). It returns [ErrUnknownUser] if no one holds
// name: bots, say, have no last seen.
func (db *DB) SetLastSeen(ctx context.Context, name string, at time.Time) error {
	if checkName("name", name) != nil {
		return ErrUnknownUser
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	res, err := db.sql.ExecContext(ctx, `UPDATE users SET last_seen = ? WHERE key = ? AND used >= ?`,
		at.UnixMilli(), key(name), db.cutoff())
	if err != nil {
		return fmt.Errorf("store: set last seen of %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set last seen of %q: %w", name, err)
	} else if n == 0 {
		return ErrUnknownUser
	}
	return nil
}

// lastSeenBatch is how many names one query looks up.
const lastSeenBatch = 200

// LastSeen returns when each of names was last seen (in UTC), keyed by
// the names as given. Names that no one holds, or whose holder has no
// last seen yet, are left out.
func (db *DB) LastSeen(ctx context.Context, names ...string) (map[string]time.Time, error) {
	byKey := make(map[string][]string) // key → names as given
	keys := make([]any, 0, len(names))
	for _, name := range names {
		if checkName("name", name) != nil {
			continue
		}
		k := key(name)
		if _, dup := byKey[k]; !dup {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], name)
	}
	seen := make(map[string]time.Time)
	for len(keys) > 0 {
		batch := keys[:min(len(keys), lastSeenBatch)]
		keys = keys[len(batch):]
		if err := db.lastSeen(ctx, batch, byKey, seen); err != nil {
			return nil, fmt.Errorf("store: last seen: %w", err)
		}
	}
	return seen, nil
}

// lastSeen looks up keys, adding what it finds to seen under the names
// byKey gives for each key.
func (db *DB) lastSeen(ctx context.Context, keys []any, byKey map[string][]string, seen map[string]time.Time) error {
	q := `SELECT key, last_seen FROM users WHERE last_seen IS NOT NULL AND used >= ? AND key IN (?` +
		strings.Repeat(", ?", len(keys)-1) + `)`
	rows, err := db.sql.QueryContext(ctx, q, append([]any{db.cutoff()}, keys...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var ms int64
		if err := rows.Scan(&k, &ms); err != nil {
			return err
		}
		for _, name := range byKey[k] {
			seen[name] = time.UnixMilli(ms).UTC()
		}
	}
	return rows.Err()
}
