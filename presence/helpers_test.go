package presence_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vicinity-go/vicinity/presence"
)

// t0 is when the fake clocks of the tests start.
var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// newTracker returns a tracker named "n1" on a fake clock at t0, closed at
// the end of the test.
func newTracker(t *testing.T, opts ...presence.Option) (*presence.Tracker, *presence.FakeClock) {
	t.Helper()
	clock := presence.NewFakeClock(t0)
	tr := presence.New(append([]presence.Option{presence.WithClock(clock), presence.WithNode("n1")}, opts...)...)
	t.Cleanup(func() { _ = tr.Close() })
	return tr, clock
}

// recorder keeps the diffs of a topic.
type recorder struct {
	mu    sync.Mutex
	diffs []presence.Diff
}

func record(t *testing.T, tr *presence.Tracker, topic string) *recorder {
	t.Helper()
	r := &recorder{}
	cancel := tr.Subscribe(topic, func(d presence.Diff) {
		r.mu.Lock()
		r.diffs = append(r.diffs, d)
		r.mu.Unlock()
	})
	t.Cleanup(cancel)
	return r
}

// take returns the diffs recorded since the last take, rendered.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.diffs))
	for _, d := range r.diffs {
		out = append(out, render(d))
	}
	r.diffs = nil
	return out
}

func (r *recorder) all() []presence.Diff {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.diffs)
}

// render writes d as "join ann [tab1]; leave bob [tab2] @1s", keys in
// order; times are offsets from t0.
func render(d presence.Diff) string {
	var parts []string
	for k, ms := range d.Joins {
		parts = append(parts, "join "+k+" "+metas(ms))
	}
	for k, ms := range d.Updates {
		parts = append(parts, "update "+k+" "+metas(ms))
	}
	for k, l := range d.Leaves {
		parts = append(parts, fmt.Sprintf("leave %s %s @%v", k, metas(l.Metas), l.LastSeen.Sub(t0)))
	}
	slices.SortFunc(parts, func(a, b string) int {
		return strings.Compare(strings.Fields(a)[1], strings.Fields(b)[1])
	})
	return strings.Join(parts, "; ")
}

// metas writes ms as "[tab1 tab2:away]": the ConnIDs, with the status
// unless online.
func metas(ms []presence.Meta) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.ConnID
		if m.Status != presence.StatusOnline {
			s[i] += ":" + m.Status
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// members writes a List as "ann [tab1] bob [tab2]".
func members(list []presence.Member) string {
	s := make([]string, len(list))
	for i, m := range list {
		s[i] = m.Key + " " + metas(m.Metas)
	}
	return strings.Join(s, " ")
}

// state is a topic's members, built by replaying diffs.
type state map[string][]presence.Meta

// apply applies d to s, failing on a diff that does not follow from s: a
// join of a present key, an update or leave of an absent one, a leave
// whose metas are not the last ones.
func (s state) apply(d presence.Diff) error {
	for k, ms := range d.Joins {
		if _, ok := s[k]; ok {
			return fmt.Errorf("join of present %q", k)
		}
		s[k] = ms
	}
	for k, ms := range d.Updates {
		if _, ok := s[k]; !ok {
			return fmt.Errorf("update of absent %q", k)
		}
		s[k] = ms
	}
	for k, l := range d.Leaves {
		ms, ok := s[k]
		if !ok {
			return fmt.Errorf("leave of absent %q", k)
		}
		if metas(ms) != metas(l.Metas) {
			return fmt.Errorf("leave of %q with %s, had %s", k, metas(l.Metas), metas(ms))
		}
		delete(s, k)
	}
	return nil
}

func (s state) list() []presence.Member {
	list := make([]presence.Member, 0, len(s))
	for k, ms := range s {
		list = append(list, presence.Member{Key: k, Metas: ms})
	}
	slices.SortFunc(list, func(a, b presence.Member) int { return strings.Compare(a.Key, b.Key) })
	return list
}

func list(t *testing.T, tr *presence.Tracker, topic string) string {
	t.Helper()
	l, err := tr.List(context.Background(), topic)
	require.NoError(t, err, "list %q", topic)
	return members(l)
}
