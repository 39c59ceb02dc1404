// Package id generates the random identifiers vicinity hands out: Engine.IO
// session ids, Socket.IO socket ids and recovery session ids.
package id

import (
	"crypto/rand"
	"encoding/base64"
)

// New returns a random 20-character URL-safe identifier carrying 120 bits of
// entropy, the shape of the ids the Node.js reference server issues.
func New() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it aborts the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
