package id_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/vicinity-go/vicinity/internal/id"
)

func TestNew(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for range 1000 {
		s := id.New()
		assert.Len(t, s, 20)
		assert.Regexp(t, `^[A-Za-z0-9_-]{20}$`, s)
		assert.False(t, seen[s], "duplicate id %q", s)
		seen[s] = true
	}
}
