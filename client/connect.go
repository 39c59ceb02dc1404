package client

import (
	"context"
	"net/url"
)

// Connect is the short way to one namespace: it makes a [Manager] for
// rawURL, whose path names the namespace ("http://host:8080/chat" connects
// to "/chat"; no path means "/"), and connects its socket. Close the
// manager, s.Manager().Close(), when done. If Connect fails it closes the
// manager itself and returns the error of [Socket.Connect]. Socket options,
// such as an auth payload, go in [WithSocketOptions].
func Connect(ctx context.Context, rawURL string, opts ...Option) (*Socket, error) {
	nsp := "/"
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		nsp = u.Path
	}
	m := New(rawURL, opts...)
	s := m.Socket(nsp)
	if err := s.Connect(ctx); err != nil {
		_ = m.Close()
		return nil, err
	}
	return s, nil
}
