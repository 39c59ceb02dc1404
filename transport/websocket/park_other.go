//go:build !linux

package websocket

// parker parks nothing here: an idle connection keeps its read loop's
// goroutine (see park_linux.go).
type parker struct{}

// canPark reports whether connections park here.
const canPark = false

var parking parker

func (*parker) park(*link) bool { return false }
func (*parker) unpark(*link)    {}
