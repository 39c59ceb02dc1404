package websocket

import (
	"net"
	"syscall"
)

// tcpNotSentLowat is Linux's TCP_NOTSENT_LOWAT (include/uapi/linux/tcp.h),
// which the syscall package names for some architectures only.
const tcpNotSentLowat = 0x19

// notSentLimit is how many bytes the kernel may hold for a WebSocket that
// it has not sent yet (see limitUnsent): 16 KiB, as HTTP/2 servers commonly
// set, enough to keep a fast client's pipe full.
const notSentLimit = 16 << 10

// limitUnsent bounds what the kernel keeps of a connection's writes that it
// could not send yet (the client's receive window is full) to notSentLimit
// bytes: beyond it a write waits, so a client that stops reading fills its
// own send queue within a few messages (and is closed as a slow client)
// instead of having the kernel take megabytes for it, each written at the
// cost of every other client's latency. Data in flight is not limited, so a
// reading client's throughput is not either.
func limitUnsent(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, notSentLimit)
	})
}
