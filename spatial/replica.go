package spatial

// PlaceShown places member id at pos exactly as it is to be shown, to
// everyone: a replica of a member that another index (another server's)
// owns and has shown already as its privacy says. Neither the index's
// coarsening ([WithCoarsening]) nor any [Privacy] or [Zone] applies to it:
// the trees, the watches, the fences, the queries and the events all hold
// it at pos, with pos's accuracy and time, and [Index.Get], [Index.Placed]
// and (unless it is hidden) [Index.Shown] return pos. Its position never
// expires by age
// ([WithMaxAge], [Index.Expire] skip it): its owner decides when it goes,
// and [Index.Remove] removes it, with the events of a removal.
//
// hidden hides it as [Index.SetHidden] does (those who saw it get [Leave]
// with [CauseHidden], and no query finds it), keeping pos as where it is
// placed. As with [Index.Place], a call that hides it and moves it makes
// those who saw it lose it where they saw it, and one that shows it again
// and moves it makes it enter at the new point. Everything else works on
// a replica as on any member: its
// own watch ([Index.Watch], symmetric or not), its fences, its events,
// which are those of an ordinary member shown at pos (a move to the same
// pos, with the same accuracy, produces no [Move]).
//
// A member placed with [Index.Set] or [Index.Place] becomes a replica when
// placed with PlaceShown, and a replica stops being one, and is shown as
// the index shows its members, when it is placed with Set (hidden if it
// was) or Place, or given a privacy with [Index.SetPrivacy]. Its
// [Index.Privacy] is a Privacy with Hidden alone. [Index.SetHidden] keeps
// it a replica.
//
// PlaceShown reports whether id was new to the index. It returns an error
// wrapping [ErrInvalidPoint] or [ErrInvalidAccuracy], and leaves the index
// unchanged, when pos is invalid.
func (x *Index[K]) PlaceShown(id K, pos Position, hidden bool) (added bool, err error) {
	return x.place(id, pos, &Privacy{Hidden: hidden}, true)
}

// Replica reports whether member id is a replica, placed with
// [Index.PlaceShown]; false when it is not in the index.
func (x *Index[K]) Replica(id K) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.member(id)
	return ok && e.replica()
}

// replica reports whether e is shown as placed (see Index.PlaceShown).
func (e *entry[K]) replica() bool { return e.priv != nil && e.priv.replica }
