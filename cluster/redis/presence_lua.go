package redis

import "github.com/redis/rueidis"

// The presence store's scripts. Every change to a topic is made by one
// script, which also numbers it and publishes it on the topic's channel,
// so that every server receives a topic's changes in the order Redis
// applied them, and notices one it missed.
//
// A member is stored in its topic's hash as a msgpack array of strings,
// [leftAt, connID, node, joinedAt, meta, connID, node, joinedAt, meta…]:
// leftAt is "" unless the member is held by a leave delay; times are Unix
// nanoseconds in decimal; meta is the meta's status, device and fields
// (see encodeMetaBlob). A change published is the msgpack array
// [seq, prev, [[kind, key, at, member]…]]: seq is its number, from one
// counter for every topic (P clock); prev is the number of the topic's
// change before it, "0" when the topic was empty; kind is "j" (join), "u"
// (update) or "l" (leave, at its last-seen time), member as stored (for a
// leave, as it was). A watcher that applied seq or later drops it; one
// that applied the change numbered prev, or whose copy of the topic is
// empty when prev is "0", applies it; any other missed a change and reads
// the topic again. Only topics with members have a number kept (P last),
// so nothing is kept of a topic nobody is in: one emptied and used again
// starts again at prev "0", and costs its watchers no read.
//
// Every key shares one hash tag, so that a script may touch any of them on
// a Redis Cluster: presence lives on one shard there. Each script is given
// one key, P clock, for a cluster client to route it. The keys, after the
// prefix P ("{K-presence}:"):
//
//	P t:<topic>  hash: key → member
//	P conns      hash: topic → its connections (metas)
//	P clock      string: the number of the last change, of any topic
//	P last       hash: topic → its last change's number, while it has members
//	P k:<key>    set: the topics of key
//	P seen       hash: key → last seen (ns); P seenz: the same as a zset (ms)
//	P nodes      zset: node → alive until (ms); P beat: node → last heartbeat (ns)
//	P expired    set: nodes expired that have not heartbeated since
//	P dead       set: nodes expired whose members are still being removed
//	             (each is in P expired too)
//	P n:<node>   set: the members of node, as len(topic)..":"..topic..key
//	P revived:<node>  string, for a minute: the heartbeat (ns) that told
//	             node it had expired
//	P claim:<id> set, for a minute: the nodes ExpireNodes call id expired
//
// (P seq, a hash of the last number of every topic ever changed, is the
// numbering of earlier versions: nothing reads or writes it now.)
//
// # Run twice
//
// The store runs a script again when the connection broke before its
// answer came (see PresenceStore.exec): the first run may have happened.
// So every script, run again with the same arguments after its first run
// (and after whatever other scripts ran in between), gives the answer of
// the first or one that is as true, and changes nothing the first did
// not; each says why below.

// luaCommon is the helpers every changing script starts with. ARGV[1] is
// the key prefix P.
const luaCommon = `
local P = ARGV[1]
-- pub numbers changes, made to topic already, and publishes them.
local function pub(topic, changes)
  local seq = string.format('%d', redis.call('INCR', P .. 'clock'))
  local prev = redis.call('HGET', P .. 'last', topic) or '0'
  if redis.call('EXISTS', P .. 't:' .. topic) == 1 then
    redis.call('HSET', P .. 'last', topic, seq)
  else
    redis.call('HDEL', P .. 'last', topic)
  end
  redis.call('PUBLISH', ARGV[2] .. topic, cmsgpack.pack({seq, prev, changes}))
end
local function pair(topic, key) return #topic .. ':' .. topic .. key end
local function ms(ns) if #ns <= 6 then return 0 end return tonumber(string.sub(ns, 1, -7)) end
-- drop removes key, whose member was rec, from topic; at is when its
-- last connection left.
local function drop(topic, key, rec, at)
  redis.call('HDEL', P .. 't:' .. topic, key)
  local left = redis.call('HINCRBY', P .. 'conns', topic, -((#rec - 1) / 4))
  if left <= 0 then redis.call('HDEL', P .. 'conns', topic) end
  for i = 2, #rec, 4 do redis.call('SREM', P .. 'n:' .. rec[i + 1], pair(topic, key)) end
  redis.call('SREM', P .. 'k:' .. key, topic)
  if redis.call('EXISTS', P .. 'k:' .. key) == 0 then
    redis.call('HSET', P .. 'seen', key, at)
    redis.call('ZADD', P .. 'seenz', ms(at), key)
  end
end
-- unpair forgets that node has a meta of key in topic, unless rec (the
-- member now) still holds one of it.
local function unpair(topic, key, rec, node)
  for i = 2, #rec, 4 do if rec[i + 1] == node then return end end
  redis.call('SREM', P .. 'n:' .. node, pair(topic, key))
end
`

// luaPut is Store.Put: ARGV P, channel prefix, topic, key, connID, node,
// joinedAt, meta. Run twice, it finds the meta as it put it and changes
// nothing (its answer is not used); or, if the node was expired in
// between, it fails with the node expired, which is true by then (the
// meta goes with the node's others). A Put of the same connection made
// in between is overwritten: the two overlapped, and either may be last.
var luaPut = rueidis.NewLuaScript(luaCommon + `
local topic, key, conn, node = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('SISMEMBER', P .. 'expired', node) == 1 then return redis.error_reply('VICINITY_NODE_EXPIRED') end
local h = P .. 't:' .. topic
local raw = redis.call('HGET', h, key)
local kind, rec = 'u', nil
if not raw then
  kind, rec = 'j', {'', conn, node, ARGV[7], ARGV[8]}
  redis.call('HINCRBY', P .. 'conns', topic, 1)
  redis.call('SADD', P .. 'k:' .. key, topic)
  redis.call('HDEL', P .. 'seen', key)
  redis.call('ZREM', P .. 'seenz', key)
else
  rec = cmsgpack.unpack(raw)
  if rec[1] ~= '' then -- held: the held meta goes
    local was = rec[3]
    rec = {'', conn, node, ARGV[7], ARGV[8]}
    unpair(topic, key, rec, was)
  else
    local found = false
    for i = 2, #rec, 4 do
      if rec[i] == conn then
        found = true
        if rec[i + 1] == node and rec[i + 3] == ARGV[8] then return 0 end
        local was = rec[i + 1]
        rec[i + 1], rec[i + 3] = node, ARGV[8]
        unpair(topic, key, rec, was)
        break
      end
    end
    if not found then
      for _, v in ipairs({conn, node, ARGV[7], ARGV[8]}) do rec[#rec + 1] = v end
      redis.call('HINCRBY', P .. 'conns', topic, 1)
    end
  end
end
redis.call('HSET', h, key, cmsgpack.pack(rec))
redis.call('SADD', P .. 'n:' .. node, pair(topic, key))
pub(topic, {{kind, key, '', rec}})
return 1
`)

// luaUpdate is Store.Update: ARGV P, channel prefix, topic, key, connID,
// meta. Run twice, it finds the meta as it left it and changes nothing
// (its answer is not used).
var luaUpdate = rueidis.NewLuaScript(luaCommon + `
local topic, key, conn = ARGV[3], ARGV[4], ARGV[5]
local h = P .. 't:' .. topic
local raw = redis.call('HGET', h, key)
if not raw then return redis.error_reply('VICINITY_NOT_TRACKED') end
local rec = cmsgpack.unpack(raw)
if rec[1] ~= '' then return redis.error_reply('VICINITY_NOT_TRACKED') end
for i = 2, #rec, 4 do
  if rec[i] == conn then
    if rec[i + 3] == ARGV[6] then return 0 end
    rec[i + 3] = ARGV[6]
    redis.call('HSET', h, key, cmsgpack.pack(rec))
    pub(topic, {{'u', key, '', rec}})
    return 1
  end
end
return redis.error_reply('VICINITY_NOT_TRACKED')
`)

// luaRemove is Store.Remove: ARGV P, channel prefix, topic, key, connID,
// at, hold ("1" or "0"). It returns 1 when the meta is held. Run twice, it
// finds the meta removed (and answers 0, as the first did), or held by
// this connection since at: it answers 1 again, or the tracker would
// never release it. (A Remove of a held meta answers 0 otherwise; two
// Removes of one connection at the same instant are one retried.)
var luaRemove = rueidis.NewLuaScript(luaCommon + `
local topic, key, conn, at = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local h = P .. 't:' .. topic
local raw = redis.call('HGET', h, key)
if not raw then return 0 end
local rec = cmsgpack.unpack(raw)
if rec[1] ~= '' then
  if ARGV[7] == '1' and rec[1] == at and rec[2] == conn then return 1 end
  return 0
end
for i = 2, #rec, 4 do
  if rec[i] == conn then
    if #rec > 5 then
      local node = rec[i + 1]
      for _ = 1, 4 do table.remove(rec, i) end
      redis.call('HSET', h, key, cmsgpack.pack(rec))
      redis.call('HINCRBY', P .. 'conns', topic, -1)
      unpair(topic, key, rec, node)
      pub(topic, {{'u', key, '', rec}})
      return 0
    end
    if ARGV[7] == '1' then
      rec[1] = at
      redis.call('HSET', h, key, cmsgpack.pack(rec))
      return 1
    end
    drop(topic, key, rec, at)
    pub(topic, {{'l', key, at, rec}})
    return 0
  end
end
return 0
`)

// luaRelease is Store.Release: ARGV P, channel prefix, topic, key, connID,
// leftAt. Run twice, it finds the held meta gone (or another) and does
// nothing (its answer is not used).
var luaRelease = rueidis.NewLuaScript(luaCommon + `
local topic, key, conn, at = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local raw = redis.call('HGET', P .. 't:' .. topic, key)
if not raw then return 0 end
local rec = cmsgpack.unpack(raw)
if rec[1] ~= at or rec[2] ~= conn then return 0 end
drop(topic, key, rec, at)
pub(topic, {{'l', key, at, rec}})
return 1
`)

// luaHeartbeat is Store.Heartbeat: ARGV P, node, alive until (ms), now
// (ns), "1" if this process heartbeated node before. It returns 0 when
// the node was alive; 1 when it was expired (it is alive again); 2 when
// the store forgot it (lost its data); 3, changing nothing, when it was
// expired and its members are still being removed: they must all be gone
// (luaReap until 0) before it heartbeats again, or its reaping would take
// the members it adds once alive. Run twice, it answers 1 again when the
// first answered 1 or 2: it remembers, for a minute, the heartbeat that
// told the node it was expired. (Two heartbeats of one node at the same
// instant are one retried.)
var luaHeartbeat = rueidis.NewLuaScript(`
local P, node = ARGV[1], ARGV[2]
if redis.call('SISMEMBER', P .. 'dead', node) == 1 then return 3 end
local revived = P .. 'revived:' .. node
local was = redis.call('ZSCORE', P .. 'nodes', node)
redis.call('ZADD', P .. 'nodes', ARGV[3], node)
redis.call('HSET', P .. 'beat', node, ARGV[4])
local code = 0
if redis.call('SREM', P .. 'expired', node) == 1 then code = 1
elseif not was and ARGV[5] == '1' then code = 2
elseif redis.call('GET', revived) == ARGV[4] then return 1
else return 0 end
redis.call('SET', revived, ARGV[4], 'PX', 60000)
return code
`)

// luaExpire claims the nodes whose heartbeat ended before ARGV[2] (ms):
// they are expired, and their members are to be removed. It returns them.
// ARGV[3] names the call: run twice, it returns the nodes its first run
// claimed, kept for a minute (a second claim would find none).
var luaExpire = rueidis.NewLuaScript(`
local P = ARGV[1]
local claim = P .. 'claim:' .. ARGV[3]
if redis.call('EXISTS', claim) == 1 then return redis.call('SMEMBERS', claim) end
local dead = redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', '(' .. ARGV[2])
for _, node in ipairs(dead) do
  redis.call('ZREM', P .. 'nodes', node)
  redis.call('SADD', P .. 'expired', node)
  redis.call('SADD', P .. 'dead', node)
  redis.call('SADD', claim, node)
end
if #dead > 0 then redis.call('PEXPIRE', claim, 60000) end
return dead
`)

// luaReap removes the metas of an expired node, ARGV[3], from up to 256 of
// its members, publishing the changes, and returns how many members of
// the node are left; at 0 the node is forgotten. ARGV P, channel prefix,
// node. A node no longer being reaped (not in P dead: reaped by another
// server, maybe alive again since, with new members) is left alone: 0.
// Run twice, it removes the next members, or none, and answers what is
// left then, which is what its caller asks.
var luaReap = rueidis.NewLuaScript(luaCommon + `
local node = ARGV[3]
if redis.call('SISMEMBER', P .. 'dead', node) == 0 then return 0 end
local set = P .. 'n:' .. node
local beat = redis.call('HGET', P .. 'beat', node) or '0'
local byTopic, order = {}, {}
for _, p in ipairs(redis.call('SPOP', set, 256)) do
  local n, rest = string.match(p, '^(%d+):(.*)$')
  n = tonumber(n)
  local topic, key = string.sub(rest, 1, n), string.sub(rest, n + 1)
  local h = P .. 't:' .. topic
  local raw = redis.call('HGET', h, key)
  if raw then
    local rec = cmsgpack.unpack(raw)
    local keep, gone = {rec[1]}, 0
    for i = 2, #rec, 4 do
      if rec[i + 1] == node then gone = gone + 1
      else for j = 0, 3 do keep[#keep + 1] = rec[i + j] end end
    end
    if gone > 0 then
      if not byTopic[topic] then byTopic[topic] = {}; order[#order + 1] = topic end
      local changes = byTopic[topic]
      if #keep > 1 then
        redis.call('HSET', h, key, cmsgpack.pack(keep))
        redis.call('HINCRBY', P .. 'conns', topic, -gone)
        changes[#changes + 1] = {'u', key, '', keep}
      else
        local at = beat
        if rec[1] ~= '' then at = rec[1] end
        drop(topic, key, rec, at)
        changes[#changes + 1] = {'l', key, at, rec}
      end
    end
  end
end
for _, topic in ipairs(order) do pub(topic, byTopic[topic]) end
local left = redis.call('SCARD', set)
if left == 0 then
  redis.call('SREM', P .. 'dead', node)
  redis.call('HDEL', P .. 'beat', node)
end
return left
`)

// luaForget drops up to 1,000 last-seen times older than ARGV[2] (ms),
// and returns how many it dropped. Run twice, it drops the next ones, or
// none: its caller, which goes on while 1,000 are dropped, may then stop
// early and leave the rest to its next call.
var luaForget = rueidis.NewLuaScript(`
local P = ARGV[1]
local old = redis.call('ZRANGEBYSCORE', P .. 'seenz', '-inf', '(' .. ARGV[2], 'LIMIT', 0, 1000)
for _, key in ipairs(old) do
  redis.call('HDEL', P .. 'seen', key)
  redis.call('ZREM', P .. 'seenz', key)
end
return #old
`)

// luaSnapshot returns a topic's members and the number of its last
// change, as one: [seq, [key, member, key, member…]]; for a topic with
// no members, seq is the number of the last change of any topic (P
// clock), so that a watcher drops the changes the read already shows,
// and applies the topic's next change (prev "0") without reading it
// again. ARGV P, topic. It changes nothing.
var luaSnapshot = rueidis.NewLuaScriptReadOnly(`
local P, topic = ARGV[1], ARGV[2]
local members = redis.call('HGETALL', P .. 't:' .. topic)
local seq = redis.call('HGET', P .. 'last', topic)
if #members == 0 or not seq then seq = redis.call('GET', P .. 'clock') or '0' end
return {seq, members}
`)
