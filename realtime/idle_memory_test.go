package realtime_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/vicinity-go/vicinity/realtime"
)

// BenchmarkIdleConnMemory measures what an idle WebSocket connection costs
// the server: 2,000 real loopback connections, each after the Engine.IO
// handshake, a CONNECT to "/" and one room joined (an event acknowledged by
// the server, as in cmd/vicinity-load's idle scenario), then nothing. It
// reports the growth of the process's HeapInuse and StackInuse per
// connection (B/conn, heap-B/conn, stack-B/conn), the growth of the live
// heap (HeapAlloc after a collection, live-B/conn: the bytes of the objects
// an idle connection keeps, without HeapInuse's partly used spans, so
// steadier from run to run) and goroutines per connection. The clients are raw net.Conns with no goroutine and no
// buffer of their own: their share of the figure is their sockets' few
// hundred bytes. Run it with -benchtime=1x; the bound is 12 KB
// (12288 B/conn).
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	for b.Loop() {
		idleConnMemory(b, n)
	}
}

func idleConnMemory(b *testing.B, n int) {
	srv := realtime.New()
	srv.OnConnection(func(s *realtime.Socket) {
		s.On("join", func(e *realtime.Event) {
			var room string
			if e.Bind(&room) != nil {
				return
			}
			s.Join(room)
			_ = e.Ack(true)
		})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer func() { _ = srv.Close() }()
	addr := hs.Listener.Addr().String()

	before := memNow()
	conns := make([]net.Conn, n)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail error
		next = make(chan int)
	)
	for range 50 {
		wg.Go(func() {
			for i := range next {
				c, err := dialIdle(addr, fmt.Sprintf("room-%d", i%100))
				mu.Lock()
				if err != nil && fail == nil {
					fail = err
				}
				conns[i] = c
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	if fail != nil {
		b.Fatal(fail)
	}
	if got := srv.Of("/").Len(); got != n {
		b.Fatalf("%d sockets, want %d", got, n)
	}
	time.Sleep(time.Second) // writers and inboxes wind down, idle read loops park (after 500 ms)
	after := memNow()
	heap := (float64(after.heap) - float64(before.heap)) / float64(n)
	stack := (float64(after.stack) - float64(before.stack)) / float64(n)
	b.ReportMetric(heap+stack, "B/conn")
	b.ReportMetric(heap, "heap-B/conn")
	b.ReportMetric(stack, "stack-B/conn")
	b.ReportMetric((float64(after.live)-float64(before.live))/float64(n), "live-B/conn")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/conn")
}

type memSample struct {
	heap, stack, live uint64
	goroutines        int
}

// memNow collects garbage (twice: finalizers, and stacks shrink at a GC)
// and returns the heap and stack in use.
func memNow() memSample {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memSample{heap: m.HeapInuse, stack: m.StackInuse, live: m.HeapAlloc, goroutines: runtime.NumGoroutine()}
}

// dialIdle opens a raw WebSocket to the server at addr, connects to "/",
// joins room with an acknowledged "join" event and returns the connection,
// with nothing read or buffered beyond the acknowledgement.
func dialIdle(addr, room string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = c.Close()
		}
	}()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	// the open packet, "0{…}"
	if _, err := readText(br); err != nil {
		return nil, err
	}
	if err := writeText(c, "40"); err != nil {
		return nil, err
	}
	if m, err := readText(br); err != nil || !bytes.HasPrefix(m, []byte("40")) {
		return nil, fmt.Errorf("connect: %q, %v", m, err)
	}
	if err := writeText(c, `421["join","`+room+`"]`); err != nil {
		return nil, err
	}
	if m, err := readText(br); err != nil || string(m) != "431[true]" {
		return nil, fmt.Errorf("join: %q, %v", m, err)
	}
	if br.Buffered() > 0 {
		return nil, fmt.Errorf("unexpected data after the join's ack")
	}
	_ = c.SetDeadline(time.Time{})
	ok = true
	return c, nil
}

// readText reads one unmasked, unfragmented text frame of at most 65535
// bytes.
func readText(br *bufio.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		return nil, err
	}
	if h[0] != 0x81 {
		return nil, fmt.Errorf("frame 0x%02x, want a final text frame", h[0])
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		if _, err := io.ReadFull(br, h[2:4]); err != nil {
			return nil, err
		}
		n = int(h[2])<<8 | int(h[3])
	} else if n > 126 {
		return nil, fmt.Errorf("frame too long")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return p, err
}

// writeText writes s as one masked text frame (shorter than 126 bytes),
// with a zero mask.
func writeText(w io.Writer, s string) error {
	f := append([]byte{0x81, 0x80 | byte(len(s)), 0, 0, 0, 0}, s...)
	_, err := w.Write(f)
	return err
}
