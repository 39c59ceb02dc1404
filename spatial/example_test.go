package spatial_test

import (
	"fmt"
	"time"

	"github.com/vicinity-go/vicinity/spatial"
)

func ExampleIndex_Nearby() {
	x := spatial.New[string]()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for name, p := range map[string]spatial.Point{
		"louvre":       {Lat: 48.8606, Lng: 2.3376},
		"notre-dame":   {Lat: 48.8530, Lng: 2.3499},
		"eiffel tower": {Lat: 48.8584, Lng: 2.2945},
		"big ben":      {Lat: 51.5007, Lng: -0.1246},
	} {
		if err := x.Set(name, spatial.Position{Point: p, Accuracy: 10, Time: now}); err != nil {
			fmt.Println(err)
			return
		}
	}

	// Who is within 5 km of the Pont Neuf, nearest first?
	hits, err := x.Nearby(spatial.Point{Lat: 48.8570, Lng: 2.3413}, 5_000, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range hits {
		fmt.Printf("%s %.0f m\n", h.ID, h.Distance)
	}

	// Untrusted input is refused, never indexed.
	err = x.Set("ghost", spatial.Position{Point: spatial.Point{Lat: 91}})
	fmt.Println(err)
	// Output:
	// louvre 483 m
	// notre-dame 771 m
	// eiffel tower 3427 m
	// spatial: set: latitude 91 outside [-90, 90]: spatial: invalid coordinate
}

func ExampleIndex_Watch() {
	x := spatial.New[string](spatial.WithEvents(func(ev spatial.Event[string]) {
		switch ev.Kind {
		case spatial.Enter, spatial.Leave:
			fmt.Printf("%s: %s %s (%.0f m)\n", ev.Watcher, ev.Kind, ev.Member, ev.Distance)
		case spatial.State:
			fmt.Printf("%s: watching, %d inside\n", ev.Watcher, len(ev.Members))
		case spatial.Move:
		default:
			fmt.Printf("%s %s %q\n", ev.Member, ev.Kind, ev.Fence)
		}
	}))
	louvre := spatial.Point{Lat: 48.8606, Lng: 2.3376}
	_ = x.Set("ann", spatial.Position{Point: louvre})
	_ = x.AddFence("louvre", spatial.Fence{Circle: &spatial.Circle{Center: louvre, Radius: 300}})
	// Ann wants to know who comes within 500 m; leaving takes 550 m.
	_ = x.Watch("ann", 500, spatial.WithMargin(50))
	_ = x.Set("bob", spatial.Position{Point: spatial.Point{Lat: 48.8530, Lng: 2.3499}}) // Notre-Dame
	_ = x.Set("bob", spatial.Position{Point: spatial.Point{Lat: 48.8620, Lng: 2.3400}})
	_ = x.Set("bob", spatial.Position{Point: spatial.Point{Lat: 48.8584, Lng: 2.2945}}) // Eiffel tower
	x.Remove("ann")
	// Output:
	// ann fence enter "louvre"
	// ann: watching, 0 inside
	// ann: enter bob (235 m)
	// bob fence enter "louvre"
	// ann: leave bob (3163 m)
	// bob fence leave "louvre"
	// ann fence leave "louvre"
}
