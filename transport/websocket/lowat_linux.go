package websocket

import (
	"net"
	"syscall"
)

// tcpNotSentLowat is Linux's TCP_NOTSENT_LOWAT (include/uapi/linux/tcp.h),
// which the syscall package names for some architectures only.
const tcpNotSentLowat = 0x19

// notSentLimit is how many bytes the kernel may hold for a WebSocket that
// it has not sent yet (see limitUnsent): 4 KiB. Until that much waits in
// its kernel buffer, a write to a client that has stopped reading costs as
// much as one to a client that reads, so the limit sets how long a crowd
// of stalled clients delays the others: 16 KiB, HTTP/2's common setting,
// doubled that delay in cmd/vicinity-load's slow scenario. A reading
// client's throughput does not depend on it (data in flight is not
// limited).
const notSentLimit = 4 << 10

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
