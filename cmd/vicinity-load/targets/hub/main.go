// Command hub is the floor target of vicinity-load: plain gorilla/websocket
// with one reader and one writer goroutine per connection and a buffered
// channel between hub and writer, as in gorilla's chat example. It speaks a
// tiny text protocol on /ws:
//
//	"e…"         echo: written back unchanged
//	"j<room>"    join the room, answered "j"
//	"b<room> …"  send "m…" (what follows the space) to the room's members
//
// It serves /debug/stats like the vicinity target and prints "LISTEN addr".
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type conn struct {
	ws   *websocket.Conn
	send chan []byte
}

type hub struct {
	mu    sync.RWMutex
	rooms map[string]map[*conn]struct{}
	conns atomic.Int64
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws, send: make(chan []byte, 256)}
	h.conns.Add(1)
	go c.writer()
	var joined []string
	defer func() {
		h.mu.Lock()
		for _, room := range joined {
			delete(h.rooms[room], c)
			if len(h.rooms[room]) == 0 {
				delete(h.rooms, room)
			}
		}
		h.mu.Unlock()
		close(c.send)
		h.conns.Add(-1)
	}()
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil || len(msg) == 0 {
			return
		}
		switch msg[0] {
		case 'e':
			c.push(msg)
		case 'j':
			room := string(msg[1:])
			h.mu.Lock()
			m := h.rooms[room]
			if m == nil {
				m = make(map[*conn]struct{})
				h.rooms[room] = m
			}
			m[c] = struct{}{}
			h.mu.Unlock()
			joined = append(joined, room)
			c.push([]byte("j"))
		case 'b':
			room, payload, _ := bytes.Cut(msg[1:], []byte(" "))
			out := append([]byte("m"), payload...)
			h.mu.RLock()
			for m := range h.rooms[string(room)] {
				m.push(out)
			}
			h.mu.RUnlock()
		}
	}
}

// push never blocks: a client whose queue is full loses the message.
func (c *conn) push(b []byte) {
	select {
	case c.send <- b:
	default:
	}
}

func (c *conn) writer() {
	defer c.ws.Close()
	for b := range c.send {
		_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if c.ws.WriteMessage(websocket.TextMessage, b) != nil {
			for range c.send {
			}
			return
		}
	}
}

var upgrader = websocket.Upgrader{}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	memProfileRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate if > 0 (1 records every allocation)")
	flag.Parse()
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}
	h := &hub{rooms: make(map[string]map[*conn]struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", h.serve)
	mux.HandleFunc("/debug/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"heapAlloc":  m.HeapAlloc,
			"heapInuse":  m.HeapInuse,
			"stackInuse": m.StackInuse,
			"sys":        m.Sys,
			"goroutines": runtime.NumGoroutine(),
			"conns":      h.conns.Load(),
		})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "LISTEN %s\n", ln.Addr())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.Serve(ln))
}
