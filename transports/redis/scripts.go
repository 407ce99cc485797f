package redis

import "github.com/redis/go-redis/v9"

// The hub's epoch lives in its stream, as the name of a consumer group,
// "caddy-sse:<epoch>", that nothing reads through: deleting the stream,
// flushing Redis or recreating the stream with a plain XADD takes the group
// with it, so the next script to run starts a new epoch, and ids of the old
// one get a reset. The group is created at the stream's end, and its
// last-delivered id, never moved, is where the epoch began.
//
// Beside the stream, "<prefix>:trimmed" holds the newest id the nodes
// trimmed: an id before it resumes with a reset (expired). Redis's own
// max-deleted-entry-id counts only XDEL, not trimming.
const epochGroupPrefix = "caddy-sse:"

// luaEpoch defines epoch(stream, trimmed, fresh): the stream's epoch and
// where it began, starting epoch fresh when it has none (false: start
// none); a new epoch forgets what the old one trimmed.
const luaEpoch = `
local PREFIX = '` + epochGroupPrefix + `'
local function fields(flat)
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  return f
end
local function epoch(stream, trimmed, fresh)
  if redis.call('EXISTS', stream) == 1 then
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
      local f = fields(g)
      if string.sub(f['name'], 1, #PREFIX) == PREFIX then
        return string.sub(f['name'], #PREFIX + 1), f['last-delivered-id']
      end
    end
  end
  if not fresh then return false, false end
  redis.call('XGROUP', 'CREATE', stream, PREFIX .. fresh, '$', 'MKSTREAM')
  redis.call('DEL', trimmed)
  return epoch(stream, trimmed, false)
end
`

// stateScript reports the stream's epoch (starting one if needed), where
// the epoch began, the stream's last id, its length and the newest id
// trimmed.
//
// KEYS: the stream, its trimmed key; ARGV[1] a fresh epoch.
var stateScript = redis.NewScript(luaEpoch + `
local ep, start = epoch(KEYS[1], KEYS[2], ARGV[1])
local info = fields(redis.call('XINFO', 'STREAM', KEYS[1]))
return {ep, start, info['last-generated-id'], info['length'], redis.call('GET', KEYS[2]) or '0-0'}
`)

// appendScript stores events, in order, in one atomic step: the epoch is
// checked (or started), each event whose idempotency key is remembered in
// this epoch is answered with the id stored under it, the others are
// XADDed and their keys remembered with the window as TTL. Then the stream
// is trimmed: entries older than the max age, and the oldest down to
// maxlen once it holds maxlen+slack; the newest id trimmed is kept. It
// returns the epoch, then per event its stream id, or "=" and the first
// event's full id for a repeat.
//
// KEYS: the stream, its trimmed key, then one key per event with an
// idempotency key. ARGV: fresh epoch, maxlen, slack, max age in ms (0:
// none), key TTL in ms, event count, then per event: "1" if it has a key
// else "0", the number of field-value arguments, and those.
var appendScript = redis.NewScript(luaEpoch + `
local s, trimmed = KEYS[1], KEYS[2]
local ep = epoch(s, trimmed, ARGV[1])
local maxlen, slack, maxage, ttl, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local out, a, k = {ep}, 7, 3
for i = 1, n do
  local keyed, nf = ARGV[a] == '1', tonumber(ARGV[a + 1])
  a = a + 2
  local prev = false
  if keyed then
    prev = redis.call('GET', KEYS[k])
    if prev and string.sub(prev, 1, #ep + 1) ~= ep .. '-' then prev = false end
  end
  if prev then
    out[#out + 1] = '=' .. prev
  else
    local args = {'XADD', s, '*'}
    for j = a, a + nf - 1 do args[#args + 1] = ARGV[j] end
    local id = redis.call(unpack(args))
    if keyed then redis.call('SET', KEYS[k], ep .. '-' .. id, 'PX', ttl) end
    out[#out + 1] = id
  end
  a = a + nf
  if keyed then k = k + 1 end
end
-- trimTo removes the entries up to and including the id, noting it.
local function trimTo(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  redis.call('XTRIM', s, 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
  redis.call('SET', trimmed, id)
end
if maxage > 0 then
  local now = redis.call('TIME')
  local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - maxage
  local old = redis.call('XREVRANGE', s, '(' .. string.format('%d', cutoff) .. '-0', '-', 'COUNT', 1)
  if #old > 0 then trimTo(old[1][1]) end
end
local len = redis.call('XLEN', s)
if len >= maxlen + slack then
  local cut = redis.call('XRANGE', s, '-', '+', 'COUNT', len - maxlen)
  trimTo(cut[#cut][1])
end
return out
`)

// replayScript reads the entries after an id with what tells whether they
// are complete: the epoch (nil when the stream has none), the stream's last
// id, the newest id trimmed or deleted, and the entries.
//
// KEYS: the stream, its trimmed key; ARGV[1] the stream id to read after.
var replayScript = redis.NewScript(luaEpoch + `
local ep = epoch(KEYS[1], KEYS[2], false)
if not ep then return {false} end
local info = fields(redis.call('XINFO', 'STREAM', KEYS[1]))
return {ep, info['last-generated-id'], info['max-deleted-entry-id'] or '0-0', redis.call('GET', KEYS[2]) or '0-0',
  redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')}
`)
