-- Marks done a job whose worker's pool is gone, so that the orphan rule does not run it
-- again: what apalis-redis's acknowledgement does for a job that succeeded.
--
-- KEYS[1] the worker's in-flight set, KEYS[2] done set, KEYS[3] task meta prefix
-- ARGV[1] task id, ARGV[2] now (unix seconds)
-- Returns 1, or 0 if the job had already left the worker (another worker took it back).
if redis.call('srem', KEYS[1], ARGV[1]) == 0 then
    return 0
end
redis.call('sadd', KEYS[2], ARGV[1])
redis.call('hset', KEYS[3] .. ':' .. ARGV[1], 'status', 'Done', 'done_at', ARGV[2])
return 1
