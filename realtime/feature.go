package realtime

// feature is a part of the server that plugs into the Socket.IO core:
// presence and location. The core (namespaces, sockets, rooms, recovery)
// knows nothing of them; it calls each feature at each step of a socket's
// life, and each feature keeps its own per-socket state, under its own
// locks. So recovery restores a feature in one place, namespace scoping is
// decided in one place, and a cluster will replicate a feature in one
// place.
//
// The calls for one socket come in this order: admit, then refused (the
// end) or connected; joined and left as it changes rooms, connected or
// not; disconnected, once, for a socket that connected. None of them is
// made while the core holds a lock a read loop needs.
type feature interface {
	// admit is called after the middleware, before the socket connects;
	// restored is the session of a recovered socket, nil for a new one. An
	// error refuses the connection with connect_error; refused follows.
	admit(s *Socket, restored *Session) error
	// refused is called when an admitted socket does not connect after
	// all (a later feature refused it, or the connection closed): the
	// feature forgets it.
	refused(s *Socket)
	// connected is called once the client has the CONNECT packet and the
	// packets a recovered socket missed, before the connection handlers.
	connected(s *Socket)
	// joined and left are called when the socket joins a room it was not
	// in, and leaves one it was in.
	joined(s *Socket, room string)
	left(s *Socket, room string)
	// disconnected is called when the socket disconnects, after its
	// disconnecting handlers, while it is still in its rooms. sess is the
	// session kept for recovery (nil when it is not kept): the feature adds
	// its state to it, and may drop rooms that are its own to restore.
	disconnected(s *Socket, reason string, sess *Session)
	// persisting adds the feature's state to sess, the session the socket
	// would be recovered with if it dropped now, and drops the rooms that
	// are the feature's own to restore, changing nothing else (see
	// [Socket.Session]).
	persisting(s *Socket, sess *Session)
	// dropped is called when a dynamic namespace is dropped.
	dropped(n *Namespace)
	// close is called when the server closes.
	close()
}

// admit admits s into every feature, or refuses it: the features that had
// admitted it forget it.
func (s *Server) admit(sock *Socket, restored *Session) error {
	for i, f := range s.feats {
		if err := f.admit(sock, restored); err != nil {
			for _, g := range s.feats[:i] {
				g.refused(sock)
			}
			return err
		}
	}
	return nil
}

// refused tells every feature that an admitted socket did not connect.
func (s *Server) refused(sock *Socket) {
	for _, f := range s.feats {
		f.refused(sock)
	}
}

// disconnected tells every feature, the last admitted first, that sock
// disconnected.
func (s *Server) disconnected(sock *Socket, reason string, sess *Session) {
	for i := len(s.feats) - 1; i >= 0; i-- {
		s.feats[i].disconnected(sock, reason, sess)
	}
}
