package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vicinity-go/vicinity/examples/nearby/internal/store"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "nearby")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	db, err := store.Open(ctx, filepath.Join(dir, "data", "nearby.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()

	// A new device claims a name and keeps the token; a reload signs in
	// with it.
	token, err := db.Claim(ctx, "Alice")
	if err != nil {
		panic(err)
	}
	name, err := db.SignIn(ctx, token)
	fmt.Println(name, err)
	_, err = db.Claim(ctx, "alice")
	fmt.Println(err)

	noon := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	_ = db.AddAreaMessage(ctx, "Museum Island", "Alice", "anyone at the Pergamon?", noon)
	_ = db.AddDirect(ctx, "Bob", "Alice", "on my way", noon.Add(time.Minute))
	msgs, _ := db.AreaHistory(ctx, "Museum Island", 50)
	for _, m := range msgs {
		fmt.Printf("%s in %s: %s\n", m.From, m.Area, m.Text)
	}
	convs, _ := db.Conversations(ctx, "Alice", 50)
	for _, c := range convs {
		fmt.Printf("with %s: %s\n", c.With, c.Last.Text)
	}
	// Output:
	// Alice <nil>
	// the name is taken
	// Alice in Museum Island: anyone at the Pergamon?
	// with Bob: on my way
}
