-- Enqueues jobs straight onto apalis-redis's active list, in apalis-redis's own layout (task
-- data hash, task meta hashes, idempotency claims), so that the dashboard and the
-- orphan rule read them as the workers' exchange (exchange.lua) does.
--
-- Why not apalis-redis's own push: it always gives a job a run-at time, so every job goes
-- through the scheduled sorted set, and its fetch moves every due scheduled job in one Lua
-- `unpack`, which fails beyond about 8,000 values: pushing 10,000 jobs at once killed every
-- worker. On the active list they are fetched a batch at a time.
--
-- KEYS[1] task data hash, KEYS[2] active list, KEYS[3] task meta prefix,
-- KEYS[4] idempotency claim prefix
-- ARGV[1] idempotency claim TTL in seconds (0: forever)
-- ARGV[2..] per job: task id, payload, idempotency key ("" for none)
-- Returns how many jobs were enqueued (a job whose key is already claimed is not).
local ttl = tonumber(ARGV[1])
local enqueued = 0
for i = 2, #ARGV, 3 do
    local task_id, payload, key = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local allowed = true
    if #key > 0 then
        local claim = KEYS[4] .. ':' .. key
        if redis.call('setnx', claim, task_id) == 0 then
            allowed = false
        elseif ttl > 0 then
            redis.call('expire', claim, ttl)
        end
    end
    if allowed and redis.call('hsetnx', KEYS[1], task_id, payload) == 1 then
        redis.call('hset', KEYS[3] .. ':' .. task_id,
            'attempts', 0, 'max_attempts', 25, 'status', 'Pending', 'idempotency_key', key)
        redis.call('rpush', KEYS[2], task_id)
        enqueued = enqueued + 1
    end
end
return enqueued
