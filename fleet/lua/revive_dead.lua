-- Puts a dead job back on the active list with its attempts reset, as a new push would: an
-- operator's retry from the dashboard.
--
-- KEYS[1] dead set, KEYS[2] task data hash, KEYS[3] active list, KEYS[4] task meta prefix
-- ARGV[1] task id
-- Returns 1, or 0 if the job is not dead (or its payload is gone).
if redis.call('sismember', KEYS[1], ARGV[1]) == 0 or redis.call('hexists', KEYS[2], ARGV[1]) == 0 then
    return 0
end
redis.call('srem', KEYS[1], ARGV[1])
redis.call('hset', KEYS[4] .. ':' .. ARGV[1], 'status', 'Pending', 'attempts', 0)
redis.call('hdel', KEYS[4] .. ':' .. ARGV[1], 'done_at')
redis.call('rpush', KEYS[3], ARGV[1])
return 1
