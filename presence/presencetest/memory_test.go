package presencetest_test

import (
	"testing"

	"github.com/vicinity-go/vicinity/presence"
	"github.com/vicinity-go/vicinity/presence/presencetest"
)

func TestMemoryStore(t *testing.T) {
	presencetest.TestStore(t, func(*testing.T) presence.Store { return presence.NewMemoryStore() })
}
