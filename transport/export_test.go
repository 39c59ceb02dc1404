package transport

import "slices"

// Polling reports whether a GET holds c's polling slot: past the sid lookup,
// it will be answered from c's state.
func Polling(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.polling[0]
}

// PollingPost reports whether a POST holds c's polling slot.
func PollingPost(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.polling[1]
}

// SessionIDs returns the sids of the sessions s holds, sorted.
func SessionIDs(s *Server) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.conns))
	for id := range s.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// State tells what s holds for sid: whether the session exists, its
// transport, whether a GET holds its polling slot, and whether it is
// upgrading.
func State(s *Server, sid string) (exists bool, transport string, polling, upgrading bool) {
	s.mu.Lock()
	c := s.conns[sid]
	s.mu.Unlock()
	if c == nil {
		return false, "", false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return true, c.transport.Name(), c.polling[0], c.upgrading
}
