package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine (a manager's reader, writer or
// probe, a server handler) outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
