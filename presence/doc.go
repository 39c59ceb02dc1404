// Package presence tracks who is present in topics (rooms), per user, in
// the way of Phoenix Presence: a member is a user, named by the
// application's key (a user id), with one [Meta] per connection (its status,
// device, the app's fields, when it joined), so a user with two tabs open is
// one member with two metas. It imports nothing but the standard library.
//
// A [Tracker] records connections with [Tracker.Track] and
// [Tracker.Untrack] (or [Tracker.UntrackConn] on a disconnect), changes them
// with [Tracker.Update], answers [Tracker.List], [Tracker.Get],
// [Tracker.Topics], [Tracker.Count] and [Tracker.LastSeen], and tells
// [Tracker.Subscribe] subscribers what changed in a topic as a [Diff]:
//
//   - Joins: a user's first connection in the topic arrived;
//   - Updates: a user still present changed: a second tab opened, one of
//     two closed, a status changed; with all their current metas;
//   - Leaves: a user's last connection left, with those last metas and
//     when it left.
//
// For example, with t := presence.New():
//
//	t.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab1"}) // joins ann [tab1]
//	t.Track(ctx, "room", "ann", presence.Meta{ConnID: "tab2"}) // updates ann [tab1 tab2]
//	t.Untrack(ctx, "room", "ann", "tab1")                      // updates ann [tab2]
//	t.Untrack(ctx, "room", "ann", "tab2")                      // leaves ann
//
// # Leave delay
//
// With [WithLeaveDelay] d, a user whose last connection in a topic left
// stays present in it, with the metas they had, for d. If a connection of
// theirs is tracked in the topic within d (a page reload, a reconnect), on
// any node, the old metas are replaced by the new one and subscribers get an
// update, not a leave and a join: nobody sees them flash offline. If not,
// the leave comes when d ends, with LastSeen the time the connection left.
// The default, 0, makes leaves immediate.
//
// [Tracker.LastSeen] tells when a user who left every topic was last seen
// (the time their last connection left, once its leave happened), for the
// [WithLastSeen] time after that (24h by default).
//
// # Concurrency
//
// A Tracker is safe for concurrent use. Topics are spread over shards with
// a lock each in the [MemoryStore], so calls on different topics seldom
// wait for each other, and readers (List, Count, Get) only wait for the
// writers of their shard. Track, Untrack and Update hold it to change one
// key's metas; expiring a dead node holds each shard in turn while it
// scans the shard's members and removes that node's metas (copying only
// the metas of the keys it changes), which is longer in a large shard.
//
// Subscribers get the diffs of their topic in order, one at a time, and
// never while a lock of the tracker or of the memory store is held. There
// is no goroutine per subscriber: each watched topic has a queue of diffs,
// in the order the changes were applied, drained by the first goroutine
// that finds it idle: the caller of Track, Untrack or Update (so a diff may
// be delivered by the call that caused it, or by another caller's), a
// leave-delay timer, or a heartbeat that expired another node. A subscriber
// must therefore be quick (hand the diff to a non-blocking queue); it may
// call the tracker, but not Close. A panic in a subscriber is recovered and
// logged with [WithLogger]. [Tracker.Sync] runs a function in its turn in a
// topic's queue, after the diffs queued before it: calling [Tracker.List]
// there gives a newcomer a state no older than the diffs already delivered.
//
// The tracker's only goroutines are its timers ([time.AfterFunc]): one for
// the heartbeat and one per leave delay running, all stopped by
// [Tracker.Close], which also waits for the callbacks under way.
//
// # Clusters and stores
//
// A tracker keeps everything in a [Store] ([WithStore]; by default a
// [NewMemoryStore] of its own). Trackers on several servers share presence
// by sharing a store: each is a node ([WithNode]) whose metas carry its
// name, and diffs come from whichever node changed the topic. Each node
// heartbeats its store every interval of [WithHeartbeat] and expires the
// nodes whose heartbeat is older than their TTL: the members of a server
// that died leave, announced to every tracker watching their topics. A node
// expired while it was still running (its heartbeats failed) gets
// [ErrNodeExpired] from Track until its next heartbeat, which logs it: its
// connections must then be tracked again. The
// leave delay, too, is kept in the store, so a user who reloads onto
// another server does not flash offline. See [Store] for the exact
// contract a store implements. A [MemoryStore] shared by several trackers
// in one process is such a cluster, for tests; a store on a broker makes a
// real one. Trackers sharing a store should have the same options (the
// shortest [WithLastSeen] wins).
//
// [Tracker.Close] stops a node without untracking its connections: like a
// crash, its members leave when its heartbeat lapses. An application that
// shuts down cleanly untracks its connections first (closing them does so
// with package realtime).
//
// # Limits
//
// Topics, keys and connection ids must not be empty; a key or connection id
// is at most [MaxKeyLen] (256) bytes, a topic at most [MaxTopicLen] (1 KiB).
// A meta's Status is at
// most [MaxStatusLen] (32) bytes, Device at most [MaxDeviceLen] (64) and
// Fields, a JSON object or empty, at most [MaxFieldsLen] (4 KiB). Input
// that breaks these is refused with an error wrapping [ErrInvalidMeta],
// and nothing changes; [Meta.Validate] checks a meta beforehand.
package presence
