-- A worker's one round trip with the queue: settles the jobs it finished (publishing their
-- results on the results stream in the same step), then takes up to as many new jobs as it
-- has free slots. What BullMQ's moveToFinished does, on apalis-redis's key layout, so that
-- the dashboard, the producer's push and the orphan rule read the same keys.
--
-- A job is settled only by the worker that holds it (its in-flight set): a worker that was
-- taken for dead and lost its job to another publishes nothing, so that the row, the
-- summary and latest.json all come from the one worker that holds the job when it ends.
-- Only a job the queue no longer knows at all (a Redis that restarted empty) keeps the
-- result of whoever ran it: nobody else will.
--
-- Entries that are not whole jobs (no payload, no metadata) go to the dead set with the
-- reason instead of to the worker: one such entry once stopped every worker that met it.
--
-- KEYS[1] workers sorted set, KEYS[2] active list, KEYS[3] this worker's in-flight set,
-- KEYS[4] task data hash, KEYS[5] task meta prefix, KEYS[6] scheduled sorted set,
-- KEYS[7] done set, KEYS[8] dead set, KEYS[9] results stream
-- ARGV[1] now (unix seconds), ARGV[2] jobs to take, ARGV[3] worker name,
-- ARGV[4..] per settled job: task id, verdict (done|retry|dead|back), detail (retry: delay
-- in seconds; dead: the reason), result JSON ("" for none)
-- Returns {settled, taken, poisoned}: settled holds 1 per settlement applied, 0 per one
-- dropped; taken holds {id, payload, attempt} per job; poisoned {id, reason} per entry.
local now = tonumber(ARGV[1])
local take = tonumber(ARGV[2])
local worker = ARGV[3]
local meta_prefix = KEYS[5] .. ':'

-- Adds `members` to the set `key` a thousand at a time: one command per batch, as Redis's
-- cost is mostly per command, and Lua's unpack has a limit (about 8,000 values).
local function add_to_set(key, members)
    for first = 1, #members, 1000 do
        redis.call('sadd', key, unpack(members, first, math.min(first + 999, #members)))
    end
end

-- Fetching is a heartbeat too: a worker that holds jobs is always in the workers set, where
-- the orphan rule looks for them.
redis.call('zadd', KEYS[1], now, worker)

local settled, done = {}, {}
for i = 4, #ARGV, 4 do
    local id, verdict, detail, result = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local held = redis.call('srem', KEYS[3], id) == 1
    local forgotten = not held and redis.call('hexists', KEYS[4], id) == 0
    if held then
        local meta = meta_prefix .. id
        if verdict == 'done' then
            done[#done + 1] = id
            redis.call('hset', meta, 'status', 'Done', 'done_at', now)
        elseif verdict == 'retry' then
            redis.call('zadd', KEYS[6], now + tonumber(detail), id)
            redis.call('hset', meta, 'status', 'Failed')
        elseif verdict == 'dead' then
            redis.call('sadd', KEYS[8], id)
            redis.call('hset', meta, 'status', 'Killed', 'result', detail, 'done_at', now)
        else -- back: first in line again, the attempt not counted
            redis.call('lpush', KEYS[2], id)
            redis.call('hincrby', meta, 'attempts', -1)
            redis.call('hset', meta, 'status', 'Pending')
        end
    end
    if (held or forgotten) and #result > 0 then
        redis.call('xadd', KEYS[9], '*', 'result', result)
    end
    settled[#settled + 1] = held and 1 or 0
end
add_to_set(KEYS[7], done)

-- Retries that are due join the line, a bounded number per call (Lua's unpack has a limit).
local due = redis.call('zrangebyscore', KEYS[6], 0, now, 'limit', 0, 1000)
if #due > 0 then
    redis.call('rpush', KEYS[2], unpack(due))
    redis.call('zrem', KEYS[6], unpack(due))
end

local taken, poisoned, held = {}, {}, {}
if take > 0 then
    -- LPOP with a count (Redis 6.2) answers nil, not an empty list, when the line is empty.
    local ids = redis.call('lpop', KEYS[2], take) or {}
    for _, id in ipairs(ids) do
        local meta = meta_prefix .. id
        local payload = redis.call('hget', KEYS[4], id)
        local attempts = payload and redis.call('hget', meta, 'attempts')
        local reason = nil
        if not payload then
            reason = 'queue entry ' .. id .. ' has no payload in ' .. KEYS[4]
        elseif not attempts then
            reason = 'queue entry ' .. id .. ' has no metadata (' .. meta .. '): was redis evicting keys?'
        end
        if reason then
            redis.call('sadd', KEYS[8], id)
            redis.call('hset', meta, 'status', 'Killed', 'result', reason, 'done_at', now)
            poisoned[#poisoned + 1] = {id, reason}
        else
            local attempt = tonumber(attempts) + 1
            redis.call('hset', meta, 'attempts', attempt, 'status', 'Running', 'worker', worker, 'started_at', now)
            held[#held + 1] = id
            taken[#taken + 1] = {id, payload, attempt}
        end
    end
end
add_to_set(KEYS[3], held)
return {settled, taken, poisoned}
