// Package spatial is an in-memory index of located members, for questions
// such as "who is within 500 m of me" and "who are my 20 nearest".
//
// An [Index] maps a member key to its [Position] and keeps the members in an
// R-tree (github.com/tidwall/rtree). Queries are radius searches sorted by
// distance ([Index.Nearby]), k-nearest ([Index.Nearest]), and area searches
// ([Index.WithinBounds], [Index.WithinPolygon]).
//
// # Watches
//
// A member can watch the circle around itself ([Index.Watch]): a new watch
// reports all its owner sees in one [State] event, nearest first; members
// coming within the radius produce [Enter] events, members inside that
// move [Move] events, members going beyond
// the radius plus an optional margin, hiding or being removed produce
// [Leave] events, each with a [Cause] that says which. The margin ([WithMargin]) and a dwell time ([WithDwell], a delay
// before leaving) keep members on the boundary from flapping. A symmetric
// watch ([WithSymmetric]) is mutual: the members inside it see the watcher
// too, so "A near B" and "B near A" hold together; a member sees another
// once, however many watches say so. Events go to the handler set with
// [WithEvents]. The work is incremental: each watch keeps the set of
// members inside it, the watch circles are kept in a second R-tree, and a
// move costs a check of the watches that hold the member and a point query
// in that tree at its new position (plus a radius query when the member
// that moves is itself a watcher),
// never a scan of all watchers. [Index.Watching] and [Index.WatchersOf]
// read the kept sets: the members a watcher sees, and
// the watchers a moving member's updates should go to.
//
// # Fences
//
// A fence is a named circle or polygon ([Index.AddFence]). Members coming
// inside produce [FenceEnter] events and members going out or being
// removed produce [FenceLeave] events; [Index.FencesOf] and [Index.InFence]
// answer "which fences is this member in" and "who is in this fence" from
// sets kept up to date, without a search. Fences are kept in an R-tree of
// their boxes, so a move tests only the fences whose box holds the new
// position and those the member was in.
//
// # Staleness
//
// With [WithMaxAge], [Index.Expire] removes members whose position is too
// old, with the same events as [Index.Remove]; [WithExpiryInterval] runs
// it from a timer that [Index.Close] stops. Ages are measured from
// [Position.Time]; only dwells ([WithDwell]) are measured on the clock.
//
// # Privacy
//
// What one member can observe of another is decided on where that member
// is shown, never where it is: the trees, the watches and the fences hold
// each member at its shown position, so the inclusion, order, limit and
// distance of query results, the Enter, Move and Leave of watches and the
// fences a member is in all follow from it. A member's [Privacy] says how
// it is shown: exactly; coarsened to the center of its cell of a fixed grid
// (Precision, or [WithCoarsening] for all, with hysteresis at the cell's
// edges); at the shown center of a privacy zone ([Zone]: a randomized
// circle placed with the index's secret, [WithSecret]) while inside it; or
// not at all, hidden ([Index.SetHidden], or a zone that hides): left out of
// queries and of other members' watches, while it can still watch and
// query (it sees others through its own watch, not through theirs).
// [Index.Get] alone returns the exact position, for the member's own use.
//
// # Cells
//
// A [Grid] divides the Earth into cells of about a given size, the grid of
// [Coarsen], for sharing locations by place across servers ("interest
// management"): [Grid.Cell] is the cell a member is in, to publish it to;
// [Grid.Cover] lists every cell a circle overlaps (a watch, a search), to
// subscribe to, across the antimeridian and at the poles; [Cell.String]
// and [ParseCell] name a cell, in channel names for example.
//
// # Replicas
//
// A server that shares its members with others keeps the members of
// another server, in the cells it subscribes to, as replicas in its own
// index ([Index.PlaceShown]): each is held exactly where its owner shows
// it, already coarsened or hidden as the owner's index decided, so that
// this index neither coarsens it again nor expires it. A replica is in
// every other way a member: the watches, queries and fences of the index
// see it, and it can watch (a symmetric watch of its member shows it to
// the members inside).
//
// # Units
//
// Coordinates are degrees of latitude and longitude (WGS84): latitude in
// [-90, 90], longitude in [-180, 180]. Distances, radii and accuracies are
// meters, measured along great circles on a sphere of radius [EarthRadius]
// (haversine), which is within about 0.5% of the ellipsoid. Degrees are
// never used as a distance: the R-tree only narrows candidates, and every
// radius and nearest query is decided by the great-circle distance.
//
// All input is checked. NaN, infinite or out-of-range coordinates, negative
// radii or accuracies, and malformed bounds or polygons are refused with an
// error wrapping [ErrInvalidPoint], [ErrInvalidAccuracy], [ErrInvalidRadius],
// [ErrInvalidBounds], [ErrInvalidPolygon] or [ErrInvalidFence]; nothing
// panics. Only invalid options to [New] panic, as programmer errors.
//
// # Antimeridian and poles
//
// Longitude 180 and -180 are the same meridian, and queries treat them so.
// A search circle whose box would cross the antimeridian is searched as two
// boxes; a circle that covers a pole is searched from the pole down across
// all longitudes. Nearest-neighbour search ranks tree nodes by their exact
// great-circle distance, so it is exact everywhere. A [Bounds] with West
// greater than East crosses the antimeridian. A [Polygon]'s edges take the
// short way around in longitude, so polygons across the antimeridian work;
// polygons around a pole are refused. A member at a pole is inside bounds
// and polygons that reach that pole, whatever longitude it was stored with.
//
// # Concurrency
//
// An [Index] is safe for concurrent use by multiple goroutines. It is guarded
// by one sync.RWMutex: writers hold it exclusively only while they update
// the member map and the trees (a move is one R-tree replace, plus the
// watch and fence updates described above); queries share
// it while they walk the tree, rank and copy their hits (polygon queries run
// their exact test after releasing it). Queries never wait on each other,
// only on a writer's short update. Results are copies that the caller owns.
//
// Events are collected under the lock and delivered after it is released,
// one at a time, in the order the changes were made; see [WithEvents]. A
// handler may call the index.
package spatial
