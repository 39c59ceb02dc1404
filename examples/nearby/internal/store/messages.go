package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Message is a stored message. Area is set for an area chat's message, To
// for a direct message; names are display spellings. Time has millisecond
// precision and is in UTC.
type Message struct {
	From, To, Area, Text string
	Time                 time.Time
}

// Conversation is one of a person's direct conversations: whom it is with
// (as the last message spells them) and its last message.
type Conversation struct {
	With string
	Last Message
}

// checkArea checks an area's name.
func checkArea(area string) error {
	if err := checkText("area", area, MaxArea); err != nil {
		return err
	}
	if strings.ContainsFunc(area, unicode.IsControl) {
		return badInput(ErrInvalid, "area must not contain control characters")
	}
	return nil
}

// millis is at in Unix milliseconds; the zero time is now.
func (db *DB) millis(at time.Time) int64 {
	if at.IsZero() {
		at = db.cfg.now()
	}
	return at.UnixMilli()
}

// AddAreaMessage stores text, written by from at at (the zero time: now),
// in area's chat, deleting the oldest beyond [WithKeep]. The sender need
// not be a user. It returns an input error for an empty or too long area,
// name or text (see [MaxText]).
func (db *DB) AddAreaMessage(ctx context.Context, area, from, text string, at time.Time) error {
	if err := checkArea(area); err != nil {
		return err
	}
	if err := checkName("sender's name", from); err != nil {
		return err
	}
	if err := checkText("text", text, MaxText); err != nil {
		return err
	}
	return db.write(ctx, "add a message to "+area,
		func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO area_messages (area, sender, text, at) VALUES (?, ?, ?, ?)`,
				area, from, text, db.millis(at))
			return err
		},
		func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM area_messages WHERE area = ?1 AND id NOT IN (
				SELECT id FROM area_messages WHERE area = ?1 ORDER BY at DESC, id DESC LIMIT ?2)`,
				area, db.cfg.keep)
			return err
		})
}

// AddDirect stores a direct message from from to to, written at at (the
// zero time: now), deleting the conversation's oldest beyond [WithKeep].
// Neither name need be a user: whom a person may write to is the caller's
// decision (the example allows its bots, which are not users, and refuses
// names no one holds with [ErrUnknownUser] itself). It returns [ErrSelf]
// if from and to are the same name, and an input error for an empty or
// too long name or text.
func (db *DB) AddDirect(ctx context.Context, from, to, text string, at time.Time) error {
	if err := checkName("sender's name", from); err != nil {
		return err
	}
	if err := checkName("recipient's name", to); err != nil {
		return err
	}
	if err := checkText("text", text, MaxText); err != nil {
		return err
	}
	a, b := pair(from, to)
	if a == b {
		return ErrSelf
	}
	return db.write(ctx, "add a message to "+to,
		func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO direct_messages (a, b, sender, recipient, text, at) VALUES (?, ?, ?, ?, ?, ?)`,
				a, b, from, to, text, db.millis(at))
			return err
		},
		func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM direct_messages WHERE a = ?1 AND b = ?2 AND id NOT IN (
				SELECT id FROM direct_messages WHERE a = ?1 AND b = ?2 ORDER BY at DESC, id DESC LIMIT ?3)`,
				a, b, db.cfg.keep)
			return err
		},
		func(tx *sql.Tx) error { return db.pruneConversations(ctx, tx, a) },
		func(tx *sql.Tx) error { return db.pruneConversations(ctx, tx, b) })
}

// pruneConversations deletes the conversations of the name whose key is k
// beyond the newest WithMaxConversations: a client claiming name after
// name to write to someone cannot make the store keep more.
func (db *DB) pruneConversations(ctx context.Context, tx *sql.Tx, k string) error {
	_, err := tx.ExecContext(ctx, `WITH conv AS (
			SELECT a, b, MAX(id) AS last FROM direct_messages WHERE a = ?1 GROUP BY b
			UNION ALL
			SELECT a, b, MAX(id) AS last FROM direct_messages WHERE b = ?1 GROUP BY a),
		old AS (SELECT a, b FROM conv ORDER BY last DESC LIMIT -1 OFFSET ?2)
		DELETE FROM direct_messages WHERE (a, b) IN (SELECT a, b FROM old)`, k, db.cfg.maxConv)
	return err
}

// write runs steps in one transaction, the only write in this process
// while it runs.
func (db *DB) write(ctx context.Context, what string, steps ...func(*sql.Tx) error) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer tx.Rollback()
	for _, step := range steps {
		if err := step(tx); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// AreaHistory returns the last n messages of area's chat, oldest first; n
// is clamped to [1, 500].
func (db *DB) AreaHistory(ctx context.Context, area string, n int) ([]Message, error) {
	if err := checkArea(area); err != nil {
		return nil, err
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT sender, '', text, at FROM (
		SELECT id, sender, text, at FROM area_messages WHERE area = ? ORDER BY at DESC, id DESC LIMIT ?
	) ORDER BY at, id`, area, clamp(n))
	if err != nil {
		return nil, fmt.Errorf("store: history of %s: %w", area, err)
	}
	msgs, err := scanMessages(rows, area)
	if err != nil {
		return nil, fmt.Errorf("store: history of %s: %w", area, err)
	}
	return msgs, nil
}

// Conversation returns the last n direct messages between a and b, in
// either direction, oldest first; n is clamped to [1, 500]. Messages
// written before either of them claimed their name (to or from someone
// who held it before) are left out.
func (db *DB) Conversation(ctx context.Context, a, b string, n int) ([]Message, error) {
	if err := checkName("name", a); err != nil {
		return nil, err
	}
	if err := checkName("name", b); err != nil {
		return nil, err
	}
	ka, kb := pair(a, b)
	rows, err := db.sql.QueryContext(ctx, `SELECT sender, recipient, text, at FROM (
		SELECT id, sender, recipient, text, at FROM direct_messages
		WHERE a = ?1 AND b = ?2
			AND id > COALESCE((SELECT first_direct FROM users WHERE key = ?1), 0)
			AND id > COALESCE((SELECT first_direct FROM users WHERE key = ?2), 0)
		ORDER BY at DESC, id DESC LIMIT ?3
	) ORDER BY at, id`, ka, kb, clamp(n))
	if err != nil {
		return nil, fmt.Errorf("store: conversation of %q and %q: %w", a, b, err)
	}
	msgs, err := scanMessages(rows, "")
	if err != nil {
		return nil, fmt.Errorf("store: conversation of %q and %q: %w", a, b, err)
	}
	return msgs, nil
}

// scanMessages reads rows of (sender, recipient, text, at) and closes
// them.
func scanMessages(rows *sql.Rows, area string) ([]Message, error) {
	defer rows.Close()
	var msgs []Message
	for rows.Next() {
		m := Message{Area: area}
		var ms int64
		if err := rows.Scan(&m.From, &m.To, &m.Text, &ms); err != nil {
			return nil, err
		}
		m.Time = time.UnixMilli(ms).UTC()
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}

// Conversations returns user's last n conversations (n clamped to [1,
// 500]), the one with the newest message first, each with its last
// message. Like [DB.Conversation], it leaves out messages from before
// either party claimed their name.
func (db *DB) Conversations(ctx context.Context, user string, n int) ([]Conversation, error) {
	if err := checkName("name", user); err != nil {
		return nil, err
	}
	k := key(user)
	rows, err := db.sql.QueryContext(ctx, `WITH mine AS (
		SELECT m.id, m.sender, m.recipient, m.text, m.at,
			CASE WHEN m.a = ?1 THEN m.b ELSE m.a END AS other
		FROM direct_messages m
		WHERE (m.a = ?1 OR m.b = ?1)
			AND m.id > COALESCE((SELECT first_direct FROM users WHERE key = ?1), 0)
	), ranked AS (
		SELECT mine.*, ROW_NUMBER() OVER (PARTITION BY mine.other ORDER BY mine.at DESC, mine.id DESC) AS r
		FROM mine LEFT JOIN users u ON u.key = mine.other
		WHERE mine.id > COALESCE(u.first_direct, 0)
	)
	SELECT sender, recipient, text, at FROM ranked WHERE r = 1 ORDER BY at DESC, id DESC LIMIT ?2`,
		k, clamp(n))
	if err != nil {
		return nil, fmt.Errorf("store: conversations of %q: %w", user, err)
	}
	msgs, err := scanMessages(rows, "")
	if err != nil {
		return nil, fmt.Errorf("store: conversations of %q: %w", user, err)
	}
	convs := make([]Conversation, len(msgs))
	for i, m := range msgs {
		with := m.From
		if key(m.From) == k {
			with = m.To
		}
		convs[i] = Conversation{With: with, Last: m}
	}
	return convs, nil
}
