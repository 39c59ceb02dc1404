// Package spatial is an in-memory index of located members, for questions
// such as "who is within 500 m of me" and "who are my 20 nearest".
//
// An [Index] maps a member key to its [Position] and keeps the members in an
// R-tree (github.com/tidwall/rtree). Queries are radius searches sorted by
// distance ([Index.Nearby]), k-nearest ([Index.Nearest]), and area searches
// ([Index.WithinBounds], [Index.WithinPolygon]).
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
// [ErrInvalidBounds] or [ErrInvalidPolygon]; nothing panics.
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
// polygons around a pole are refused.
//
// # Concurrency
//
// An [Index] is safe for concurrent use by multiple goroutines. It is guarded
// by one sync.RWMutex: writers hold it exclusively only while they update
// the member map and the tree (a move is one R-tree replace); queries share
// it while they walk the tree, rank and copy their hits (polygon queries run
// their exact test after releasing it). Queries never wait on each other,
// only on a writer's short update. Results are copies that the caller owns.
package spatial
