package spatial

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNoFence reports a fence name that the index does not hold.
var ErrNoFence = errors.New("spatial: no such fence")

// ErrInvalidFence reports a [Fence] that is neither one valid circle nor
// one valid polygon.
var ErrInvalidFence = errors.New("spatial: invalid fence")

// Circle is the area within Radius meters (great-circle distance, edge
// included) of Center.
type Circle struct {
	Center Point   `json:"center"`
	Radius float64 `json:"radius"` // meters
}

// Fence is a named area of an [Index]: exactly one of Circle and Polygon
// is set. A circle may cross the antimeridian or cover a pole; a polygon
// follows the rules of [Polygon].
type Fence struct {
	Circle  *Circle `json:"circle,omitempty"`
	Polygon Polygon `json:"polygon,omitempty"`
}

// Validate returns an error wrapping [ErrInvalidFence] when f is not
// exactly one valid circle (positive, finite radius) or polygon.
func (f Fence) Validate() error {
	_, err := prepareFence[struct{}]("", f)
	return err
}

// fence is a fence in the index, with the members inside it.
type fence[K comparable] struct {
	name    string
	circle  bool
	center  vec3
	radius  float64
	poly    *preparedPolygon
	boxes   []box
	members map[*entry[K]]struct{}
}

// prepareFence checks f and returns it, named name, ready for an index
// keyed by K.
func prepareFence[K comparable](name string, f Fence) (*fence[K], error) {
	switch {
	case f.Circle != nil && f.Polygon != nil:
		return nil, fmt.Errorf("both a circle and a polygon: %w", ErrInvalidFence)
	case f.Circle != nil:
		c := f.Circle
		if err := c.Center.Validate(); err != nil {
			return nil, fmt.Errorf("center: %w: %w", ErrInvalidFence, err)
		}
		if !finite(c.Radius) || c.Radius <= 0 {
			return nil, fmt.Errorf("radius %v: %w: %w", c.Radius, ErrInvalidFence, ErrInvalidRadius)
		}
		return &fence[K]{name: name, circle: true, center: unit(c.Center), radius: c.Radius, boxes: circleBoxes(c.Center, c.Radius), members: make(map[*entry[K]]struct{})}, nil
	case f.Polygon != nil:
		pp, err := f.Polygon.prepare()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidFence, err)
		}
		return &fence[K]{name: name, poly: pp, boxes: pp.boxes(), members: make(map[*entry[K]]struct{})}, nil
	}
	return nil, fmt.Errorf("neither a circle nor a polygon: %w", ErrInvalidFence)
}

// unindexFence takes f's boxes out of the fence tree.
func (x *Index[K]) unindexFence(f *fence[K]) {
	for _, b := range f.boxes {
		x.ftree.Delete(b.min, b.max, f)
	}
}

// contains reports whether e is inside f.
func (f *fence[K]) contains(e *entry[K]) bool {
	if f.circle {
		return chord2ToMeters(chord2(f.center, e.v)) <= f.radius
	}
	return f.poly.contains(e.point())
}

// AddFence adds the fence called name, or replaces it. Members inside it
// produce [FenceEnter] events now; when it replaces a fence, members inside
// only the old one produce [FenceLeave] events and members inside both
// produce none. It returns an error wrapping [ErrInvalidFence] when f is
// invalid, and then leaves the index unchanged.
func (x *Index[K]) AddFence(name string, f Fence) error {
	nf, err := prepareFence[K](name, f)
	if err != nil {
		return fmt.Errorf("spatial: add fence %q: %w", name, err)
	}
	var evs []Event[K]
	x.mu.Lock()
	old := x.fences[name]
	if old != nil {
		x.unindexFence(old)
	}
	if x.fences == nil {
		x.fences = make(map[string]*fence[K])
	}
	x.fences[name] = nf
	for _, b := range nf.boxes {
		x.ftree.Insert(b.min, b.max, nf)
		x.tree.Search(b.min, b.max, func(_, _ [2]float64, e *entry[K]) bool {
			if nf.contains(e) {
				nf.members[e] = struct{}{}
			}
			return true
		})
	}
	if old != nil {
		for e := range old.members {
			delete(e.fences, old)
			if _, in := nf.members[e]; !in {
				evs = append(evs, Event[K]{Kind: FenceLeave, Member: e.id, Fence: name})
			}
		}
	}
	for e := range nf.members {
		e.addFence(nf)
		if old != nil {
			if _, was := old.members[e]; was {
				continue
			}
		}
		evs = append(evs, Event[K]{Kind: FenceEnter, Member: e.id, Fence: name})
	}
	x.unlockAndDeliver(evs)
	return nil
}

// RemoveFence removes the fence called name, with a [FenceLeave] event for
// every member inside it, and reports whether it was present.
func (x *Index[K]) RemoveFence(name string) bool {
	x.mu.Lock()
	f, ok := x.fences[name]
	if !ok {
		x.mu.Unlock()
		return false
	}
	delete(x.fences, name)
	x.unindexFence(f)
	var evs []Event[K]
	for e := range f.members {
		delete(e.fences, f)
		evs = append(evs, Event[K]{Kind: FenceLeave, Member: e.id, Fence: name})
	}
	x.unlockAndDeliver(evs)
	return true
}

// FencesOf returns the names of the fences member id is inside, sorted;
// none when id is not in the index.
func (x *Index[K]) FencesOf(id K) []string {
	x.mu.RLock()
	e, ok := x.member(id)
	if !ok || len(e.fences) == 0 {
		x.mu.RUnlock()
		return nil
	}
	names := make([]string, 0, len(e.fences))
	for f := range e.fences {
		names = append(names, f.name)
	}
	x.mu.RUnlock()
	slices.Sort(names)
	return names
}

// InFence returns the members inside the fence called name, in no
// particular order. It returns an error wrapping [ErrNoFence] when there is
// no such fence.
func (x *Index[K]) InFence(name string) ([]K, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	f, ok := x.fences[name]
	if !ok {
		return nil, fmt.Errorf("spatial: in fence %q: %w", name, ErrNoFence)
	}
	out := make([]K, 0, len(f.members))
	for e := range f.members {
		out = append(out, e.id)
	}
	return out, nil
}

func (e *entry[K]) addFence(f *fence[K]) {
	if e.fences == nil {
		e.fences = make(map[*fence[K]]struct{})
	}
	e.fences[f] = struct{}{}
}

// movedFences updates the fences after e was inserted or moved: fences it
// was in and no longer is produce FenceLeave, then fences found at its new
// position that it was not in produce FenceEnter.
func (x *Index[K]) movedFences(e *entry[K], evs *[]Event[K]) {
	if len(x.fences) == 0 { // then e is in none: leave its entry alone
		return
	}
	for f := range e.fences {
		if !f.contains(e) {
			delete(e.fences, f)
			delete(f.members, e)
			*evs = append(*evs, Event[K]{Kind: FenceLeave, Member: e.id, Fence: f.name})
		}
	}
	x.ftree.Search(e.at, e.at, func(_, _ [2]float64, f *fence[K]) bool {
		if _, in := e.fences[f]; in || !f.contains(e) {
			return true
		}
		e.addFence(f)
		f.members[e] = struct{}{}
		*evs = append(*evs, Event[K]{Kind: FenceEnter, Member: e.id, Fence: f.name})
		return true
	})
}

// removedFences takes e out of every fence, with FenceLeave events.
func (x *Index[K]) removedFences(e *entry[K], evs *[]Event[K]) {
	for f := range e.fences {
		delete(f.members, e)
		*evs = append(*evs, Event[K]{Kind: FenceLeave, Member: e.id, Fence: f.name})
	}
	e.fences = nil
}
