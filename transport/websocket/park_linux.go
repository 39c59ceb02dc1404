package websocket

import (
	"sync"
	"syscall"
)

// An idle connection is parked: its read loop's goroutine ends, its read
// buffer is dropped, and its socket waits in one epoll set shared by the
// process (the parker) until the client sends something, hangs up, or the
// session needs the read loop back (it closes); then a new goroutine goes
// on reading. Go's own poller stays in charge of the socket's reads and
// writes: the parker only learns when there is something to read. It runs
// one goroutine, blocked in epoll_wait, while any connection is parked, and
// none otherwise.
// canPark reports whether connections park here.
const canPark = true

type parker struct {
	mu      sync.Mutex
	epfd    int              // the epoll set; -1 until first used
	wake    [2]int           // a pipe in the set: a write ends the wait
	parked  map[uint64]*link // by the id the epoll event carries
	next    uint64           // the next id
	running bool             // the wait loop runs
}

var parking = parker{epfd: -1}

// park parks l, whose read loop must end at once if it returns true and
// must go on reading if it returns false (the socket cannot be parked: the
// parker could not start, or the socket is closed).
func (p *parker) park(l *link) bool {
	if l.rc == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// A session that set a read deadline is closing: its read loop waits
	// for the client's answer. Checked under p.mu, as closeFrame sets the
	// deadline before it unparks: either park sees it, or unpark sees the
	// link parked.
	if l.bc.closing() || !p.init() {
		return false
	}
	id := p.next
	p.next++
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var err error
	cerr := l.rc.Control(func(fd uintptr) {
		if l.registered {
			err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		}
		if !l.registered || err == syscall.ENOENT {
			err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if cerr != nil || err != nil { // closed meanwhile: the read loop finds out
		return false
	}
	l.registered = true
	l.parkID = id
	p.parked[id] = l
	if !p.running {
		p.running = true
		go p.loop()
	}
	return true
}

// unpark resumes l's read loop now if l is parked, for a session that
// closes: its socket will not report it.
func (p *parker) unpark(l *link) {
	p.mu.Lock()
	if p.parked[l.parkID] != l {
		p.mu.Unlock()
		return
	}
	delete(p.parked, l.parkID)
	if len(p.parked) == 0 && p.running {
		_, _ = syscall.Write(p.wake[1], []byte{0}) // the loop ends
	}
	p.mu.Unlock()
	go l.serve()
}

// init makes the epoll set and its wake-up pipe once; if it cannot (out
// of file descriptors), the next park tries again. p.mu is held.
func (p *parker) init() bool {
	if p.epfd >= 0 {
		return true
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return false
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: -1, Pad: -1}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(p.wake[0])
		_ = syscall.Close(p.wake[1])
		return false
	}
	p.epfd = epfd
	p.parked = make(map[uint64]*link)
	return true
}

// loop waits for parked sockets to become readable and resumes their read
// loops, until none is parked.
func (p *parker) loop() {
	events := make([]syscall.EpollEvent, 128)
	var ready []*link
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil && err != syscall.EINTR {
			panic("websocket: epoll_wait: " + err.Error()) // only a bad epfd or events, which cannot be
		}
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == -1 && ev.Pad == -1 {
				var b [64]byte
				for {
					if n, _ := syscall.Read(p.wake[0], b[:]); n <= 0 {
						break
					}
				}
				continue
			}
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if l := p.parked[id]; l != nil {
				delete(p.parked, id)
				ready = append(ready, l)
			}
		}
		done := len(p.parked) == 0
		if done {
			p.running = false
		}
		p.mu.Unlock()
		for i, l := range ready {
			go l.serve()
			ready[i] = nil
		}
		ready = ready[:0]
		if done {
			return
		}
	}
}
