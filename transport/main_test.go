package transport

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine (a writer, a probe watcher, a timer's
// callback, an HTTP handler) outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
