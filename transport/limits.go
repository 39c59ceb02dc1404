package transport

// QueueLimits returns the bounds of each session's send queue, in packets
// and bytes (see [WithSendQueue]).
func (s *Server) QueueLimits() (frames, bytes int) { return s.cfg.queueFrames, s.cfg.queueBytes }
