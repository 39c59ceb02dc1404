package presence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors returned by the API.
var (
	// ErrClosed is returned by every method of a [Tracker] after
	// [Tracker.Close].
	ErrClosed = errors.New("presence: tracker closed")
	// ErrInvalidMeta is wrapped by the errors for bad input: an empty topic,
	// key or connection id, or a meta over the limits (see the package
	// documentation, Limits).
	ErrInvalidMeta = errors.New("presence: invalid meta")
	// ErrNotTracked is wrapped by the errors of [Tracker.Update] and
	// [Tracker.UpdateConn] when the connection is not tracked (or has left
	// and is only held for the leave delay). A [Store] returns it from
	// [Store.Update] for the same reasons.
	ErrNotTracked = errors.New("presence: connection not tracked")
	// ErrNodeExpired is returned (or wrapped) by a [Store]'s Put for a meta
	// of a node that was expired, and by its Heartbeat the first time the
	// node heartbeats again: the node's metas were removed, so its
	// connections must be tracked again ([Tracker.Track] returns an error
	// wrapping it until then; the tracker logs the heartbeat's at Error).
	ErrNodeExpired = errors.New("presence: node expired")
)

// Statuses with a meaning to clients. Any other string of at most
// [MaxStatusLen] bytes may be used.
const (
	StatusOnline = "online" // the default, set by Track when Status is empty
	StatusAway   = "away"
	StatusBusy   = "busy"
)

// Limits on a [Meta], in bytes. A Track or Update past one of them fails
// with [ErrInvalidMeta].
const (
	MaxStatusLen = 32
	MaxDeviceLen = 64
	MaxFieldsLen = 4 << 10
)

// Limits on names, in bytes: a key (user id) and a connection id of at most
// MaxKeyLen, a topic of at most MaxTopicLen. Every method given a longer
// one fails with [ErrInvalidMeta]: a key goes to every member of its
// topics with each join and leave, and is remembered for the last-seen
// time, so none may be large.
const (
	MaxKeyLen   = 256
	MaxTopicLen = 1024
)

// Meta is one connection of a member: a user with two tabs open has two
// metas. Values handed out by a [Tracker] (in a [Member], a [Diff]) share
// the bytes of Fields with the tracker and with every other receiver: treat
// them as read-only.
type Meta struct {
	ConnID   string          `json:"connId"`           // the connection (e.g. socket id); unique within a key and topic
	Status   string          `json:"status"`           // "online" (the default when empty at Track), "away", "busy" or the app's own
	Device   string          `json:"device,omitempty"` // the app's name for the device, e.g. "ios"
	Fields   json.RawMessage `json:"fields,omitempty"` // the app's data, a JSON object or nil
	JoinedAt time.Time       `json:"joinedAt"`         // set by Track when zero
	Node     string          `json:"node,omitempty"`   // set by the Tracker: the node tracking it
}

// Member is a user present in a topic, with one [Meta] per connection.
type Member struct {
	Key   string `json:"key"`
	Metas []Meta `json:"metas"` // oldest first: in the order their connections were first tracked
}

// Occupancy is how many are present in a topic: users (keys) and their
// connections (metas), those held by a leave delay included.
type Occupancy struct {
	Users int `json:"users"`
	Conns int `json:"conns"`
}

// Leave is a user gone from a topic.
type Leave struct {
	Metas    []Meta    `json:"metas"`    // the last metas
	LastSeen time.Time `json:"lastSeen"` // when the last connection left
}

// Diff is what changed in a topic. A key appears in at most one of the three maps.
//
// Joins and Updates carry the full current metas of each key they name, so
// a diff applied to a state (set the metas of joins and updates, delete
// leaves) gives the new state, and applying it twice changes nothing. A
// Diff is shared by every subscriber of its topic: do not modify it.
type Diff struct {
	Topic   string            `json:"topic"`
	Joins   map[string][]Meta `json:"joins,omitempty"`   // users now present who were not: their metas
	Updates map[string][]Meta `json:"updates,omitempty"` // users still present whose metas changed (a tab opened or closed, a status change): their current metas
	Leaves  map[string]Leave  `json:"leaves,omitempty"`  // users gone
}

// empty reports whether d changes nothing.
func (d *Diff) empty() bool {
	return len(d.Joins) == 0 && len(d.Updates) == 0 && len(d.Leaves) == 0
}

// checkName returns an error wrapping [ErrInvalidMeta] if s, the name of a
// what ("topic", "key", "connection id"), is empty or too long (see
// [MaxKeyLen], [MaxTopicLen]).
func checkName(what, s string) error {
	limit := MaxKeyLen
	if what == "topic" {
		limit = MaxTopicLen
	}
	switch {
	case s == "":
		return fmt.Errorf("presence: empty %s: %w", what, ErrInvalidMeta)
	case len(s) > limit:
		return fmt.Errorf("presence: %s of %d bytes, over %d: %w", what, len(s), limit, ErrInvalidMeta)
	}
	return nil
}

// Validate reports whether m is within the limits a [Tracker] accepts (see
// the package documentation, Limits): Status of at most [MaxStatusLen]
// bytes, Device of at most [MaxDeviceLen], and Fields empty or one JSON
// object (surrounding whitespace allowed) of at most [MaxFieldsLen]. The
// error wraps [ErrInvalidMeta]. It checks neither ConnID nor the fields the
// tracker sets (JoinedAt, Node), and an empty Status is valid: Track makes
// it "online".
func (m Meta) Validate() error {
	if err := m.validText(); err != nil {
		return err
	}
	return validFields(m.Fields)
}

// validText checks the limits of m's Status and Device.
func (m Meta) validText() error {
	switch {
	case len(m.Status) > MaxStatusLen:
		return fmt.Errorf("presence: status of %d bytes, over %d: %w", len(m.Status), MaxStatusLen, ErrInvalidMeta)
	case len(m.Device) > MaxDeviceLen:
		return fmt.Errorf("presence: device of %d bytes, over %d: %w", len(m.Device), MaxDeviceLen, ErrInvalidMeta)
	}
	return nil
}

// validFields checks the limits of a meta's Fields.
func validFields(b []byte) error {
	switch {
	case len(b) > MaxFieldsLen:
		return fmt.Errorf("presence: fields of %d bytes, over %d: %w", len(b), MaxFieldsLen, ErrInvalidMeta)
	case len(b) > 0 && !isObject(b):
		return fmt.Errorf("presence: fields not a JSON object: %w", ErrInvalidMeta)
	}
	return nil
}

// isObject reports whether b is one valid JSON object.
func isObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

// metaEqual reports whether a and b are the same meta.
func metaEqual(a, b *Meta) bool {
	return a.ConnID == b.ConnID && a.Status == b.Status && a.Device == b.Device &&
		a.Node == b.Node && a.JoinedAt.Equal(b.JoinedAt) && bytes.Equal(a.Fields, b.Fields)
}

// indexConn returns the index of connID's meta in metas, or -1.
func indexConn(metas []Meta, connID string) int {
	for i := range metas {
		if metas[i].ConnID == connID {
			return i
		}
	}
	return -1
}
