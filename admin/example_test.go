package admin_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vicinity-go/vicinity/admin"
	"github.com/vicinity-go/vicinity/client"
	"github.com/vicinity-go/vicinity/realtime"
)

// An instrumented server: the Admin UI logs in to "/admin" with the
// username and password, and gets the server's sockets.
func ExampleNew() {
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.DefaultCost)
	ui := admin.New(admin.WithAuth("admin", string(hash)))
	srv := realtime.New(realtime.WithObserver(ui))
	if err := ui.Instrument(srv); err != nil {
		panic(err)
	}
	defer ui.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()

	// what the UI does, with the Go client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m := client.New(ts.URL)
	defer m.Close()
	s := m.Socket("/admin", client.WithAuth(map[string]string{"username": "admin", "password": "s3cret"}))
	features := make(chan string, 1)
	s.On("config", func(e *client.Event) {
		var config struct{ SupportedFeatures []string }
		_ = e.Bind(&config)
		features <- fmt.Sprint(config.SupportedFeatures)
	})
	if err := s.Connect(ctx); err != nil {
		panic(err)
	}
	fmt.Println(<-features)
	// Output: [EMIT JOIN LEAVE DISCONNECT MJOIN MLEAVE MDISCONNECT AGGREGATED_EVENTS ALL_EVENTS]
}
