package presence_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vicinity-go/vicinity/presence"
)

// printDiff prints the keys of d, in order, with their connections.
func printDiff(d presence.Diff) {
	conns := func(ms []presence.Meta) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.ConnID+"("+m.Status+")")
		}
		return strings.Join(s, " ")
	}
	for _, k := range slices.Sorted(maps.Keys(d.Joins)) {
		fmt.Printf("%s: %s joins with %s\n", d.Topic, k, conns(d.Joins[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Updates)) {
		fmt.Printf("%s: %s updates to %s\n", d.Topic, k, conns(d.Updates[k]))
	}
	for k, l := range d.Leaves {
		fmt.Printf("%s: %s leaves from %s\n", d.Topic, k, conns(l.Metas))
	}
}

// Two tabs of one user are one member: the second tab is an update, and
// the user leaves when the last tab closes.
func ExampleTracker() {
	ctx := context.Background()
	t := presence.New()
	defer t.Close()
	cancel := t.Subscribe("lobby", printDiff)
	defer cancel()

	t.Track(ctx, "lobby", "ann", presence.Meta{ConnID: "tab1"})
	t.Track(ctx, "lobby", "ann", presence.Meta{ConnID: "tab2", Device: "phone"})
	t.Track(ctx, "lobby", "bob", presence.Meta{ConnID: "tab3", Status: presence.StatusBusy})

	n, _ := t.Count(ctx, "lobby")
	fmt.Println("users in the lobby:", n)

	t.Untrack(ctx, "lobby", "ann", "tab1")
	t.Untrack(ctx, "lobby", "ann", "tab2")
	// Output:
	// lobby: ann joins with tab1(online)
	// lobby: ann updates to tab1(online) tab2(online)
	// lobby: bob joins with tab3(busy)
	// users in the lobby: 2
	// lobby: ann updates to tab2(online)
	// lobby: ann leaves from tab2(online)
}

func ExampleTracker_UpdateConn() {
	ctx := context.Background()
	t := presence.New()
	defer t.Close()
	t.Track(ctx, "lobby", "ann", presence.Meta{ConnID: "tab1"})
	t.Track(ctx, "game", "ann", presence.Meta{ConnID: "tab1"})
	cancel := t.Subscribe("game", printDiff)
	defer cancel()

	// Ann is away in every topic of the connection.
	t.UpdateConn(ctx, "ann", "tab1", func(m *presence.Meta) {
		m.Status = presence.StatusAway
		m.Fields = []byte(`{"until":"lunch"}`)
	})
	ann, _, _ := t.Get(ctx, "lobby", "ann")
	fmt.Println(ann.Metas[0].Status, string(ann.Metas[0].Fields))
	// Output:
	// game: ann updates to tab1(away)
	// away {"until":"lunch"}
}

// Trackers sharing a store are a cluster: each sees what the others track.
func Example_cluster() {
	ctx := context.Background()
	store := presence.NewMemoryStore()
	a := presence.New(presence.WithStore(store), presence.WithNode("server-a"))
	defer a.Close()
	b := presence.New(presence.WithStore(store), presence.WithNode("server-b"))
	defer b.Close()
	cancel := b.Subscribe("lobby", printDiff)
	defer cancel()

	a.Track(ctx, "lobby", "ann", presence.Meta{ConnID: "tab1"})
	b.Track(ctx, "lobby", "ann", presence.Meta{ConnID: "tab2"})

	list, _ := b.List(ctx, "lobby")
	for _, m := range list[0].Metas {
		fmt.Println(m.ConnID, "on", m.Node)
	}
	// Output:
	// lobby: ann joins with tab1(online)
	// lobby: ann updates to tab1(online) tab2(online)
	// tab1 on server-a
	// tab2 on server-b
}
