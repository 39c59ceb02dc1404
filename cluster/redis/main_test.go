package redis_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine of the adapters outlives the tests.
// With nodeEnv set, the test binary is a node of TestRecoveryAfterKill.
func TestMain(m *testing.M) {
	if addr := os.Getenv(nodeEnv); addr != "" {
		runNode(addr)
		return
	}
	goleak.VerifyTestMain(m)
}
