package realtime_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/vicinity-go/vicinity/realtime"
)

// A read-only view of a room for browsers without a Socket.IO client: an
// EventSource on /lobby/events gets what is broadcast to the room.
func ExampleNamespace_EventStream() {
	srv := realtime.New()
	defer srv.Close()
	lobby := srv.Of("/").EventStream([]string{"lobby"}, realtime.StreamOptions{Events: []string{"chat"}})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle("/lobby/events", lobby) // in the page: new EventSource("/lobby/events")
	ts := httptest.NewServer(mux)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/lobby/events")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() && lines.Text() != "" { // the stream's first block: registered
	}

	_ = srv.To("lobby").Emit("chat", map[string]string{"name": "ada", "text": "hello"})
	for lines.Scan() && lines.Text() != "" {
		if !strings.HasPrefix(lines.Text(), ":") {
			fmt.Println(lines.Text())
		}
	}
	// Output:
	// event: chat
	// data: {"name":"ada","text":"hello"}
}
