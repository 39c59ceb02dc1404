package redis

import "github.com/redis/rueidis"

// The presence store's scripts. Every change to a topic is made by one
// script, which also numbers it (the topic's sequence) and publishes it on
// the topic's channel, so that every server receives a topic's changes in
// the order Redis applied them, and notices one it missed.
//
// A member is stored in its topic's hash as a msgpack array of strings,
// [leftAt, connID, node, joinedAt, meta, connID, node, joinedAt, meta…]:
// leftAt is "" unless the member is held by a leave delay; times are Unix
// nanoseconds in decimal; meta is the meta's status, device and fields
// (see encodeMetaBlob). A change published is the msgpack array
// [seq, [[kind, key, at, member]…]], kind "j" (join), "u" (update) or "l"
// (leave, at its last-seen time), member as stored (for a leave, as it
// was).
//
// Every key shares one hash tag, so that a script may touch any of them on
// a Redis Cluster: presence lives on one shard there. Each script is given
// one key, P seq, for a cluster client to route it. The keys, after the
// prefix P ("{K-presence}:"):
//
//	P t:<topic>  hash: key → member
//	P conns      hash: topic → its connections (metas)
//	P seq        hash: topic → its last change's number
//	P k:<key>    set: the topics of key
//	P seen       hash: key → last seen (ns); P seenz: the same as a zset (ms)
//	P nodes      zset: node → alive until (ms); P beat: node → last heartbeat (ns)
//	P expired    set: nodes expired that have not heartbeated since
//	P dead       set: nodes expired whose members are still being removed
//	P n:<node>   set: the members of node, as len(topic)..":"..topic..key

// luaCommon is the helpers every changing script starts with. ARGV[1] is
// the key prefix P.
const luaCommon = `
local P = ARGV[1]
local function pub(topic, changes)
  local seq = redis.call('HINCRBY', P .. 'seq', topic, 1)
  redis.call('PUBLISH', ARGV[2] .. topic, cmsgpack.pack({tostring(seq), changes}))
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
// joinedAt, meta.
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
// meta.
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
// at, hold ("1" or "0"). It returns 1 when the meta is held.
var luaRemove = rueidis.NewLuaScript(luaCommon + `
local topic, key, conn, at = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local h = P .. 't:' .. topic
local raw = redis.call('HGET', h, key)
if not raw then return 0 end
local rec = cmsgpack.unpack(raw)
if rec[1] ~= '' then return 0 end
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
// leftAt.
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
// (ns), "1" if this process heartbeated node before. It returns 1 when
// the node was expired, 2 when the store forgot it (lost its data).
var luaHeartbeat = rueidis.NewLuaScript(`
local P, node = ARGV[1], ARGV[2]
local was = redis.call('ZSCORE', P .. 'nodes', node)
redis.call('ZADD', P .. 'nodes', ARGV[3], node)
redis.call('HSET', P .. 'beat', node, ARGV[4])
if redis.call('SREM', P .. 'expired', node) == 1 then return 1 end
if not was and ARGV[5] == '1' then return 2 end
return 0
`)

// luaExpire claims the nodes whose heartbeat ended before ARGV[2] (ms):
// they are expired, and their members are to be removed. It returns them.
var luaExpire = rueidis.NewLuaScript(`
local P = ARGV[1]
local dead = redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', '(' .. ARGV[2])
for _, node in ipairs(dead) do
  redis.call('ZREM', P .. 'nodes', node)
  redis.call('SADD', P .. 'expired', node)
  redis.call('SADD', P .. 'dead', node)
end
return dead
`)

// luaReap removes the metas of an expired node, ARGV[3], from up to 256 of
// its members, publishing the changes, and returns how many members of
// the node are left; at 0 the node is forgotten. ARGV P, channel prefix,
// node.
var luaReap = rueidis.NewLuaScript(luaCommon + `
local node = ARGV[3]
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
// and returns how many it dropped.
var luaForget = rueidis.NewLuaScript(`
local P = ARGV[1]
local old = redis.call('ZRANGEBYSCORE', P .. 'seenz', '-inf', '(' .. ARGV[2], 'LIMIT', 0, 1000)
for _, key in ipairs(old) do
  redis.call('HDEL', P .. 'seen', key)
  redis.call('ZREM', P .. 'seenz', key)
end
return #old
`)

// luaSnapshot returns a topic's last change number and its members, as
// one: [seq, [key, member, key, member…]]. ARGV P, topic.
var luaSnapshot = rueidis.NewLuaScriptReadOnly(`
local P, topic = ARGV[1], ARGV[2]
return {redis.call('HGET', P .. 'seq', topic) or '0', redis.call('HGETALL', P .. 't:' .. topic)}
`)
