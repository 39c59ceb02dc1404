//go:build !linux

package websocket

import "net"

// limitUnsent does nothing here: TCP_NOTSENT_LOWAT is Linux's (see
// lowat_linux.go).
func limitUnsent(net.Conn) {}
