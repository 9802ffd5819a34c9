-- Deletes a dead job: its payload and its metadata. An operator's delete from the dashboard.
--
-- KEYS[1] dead set, KEYS[2] task data hash, KEYS[3] task meta prefix
-- ARGV[1] task id
-- Returns 1, or 0 if the job is not dead.
if redis.call('srem', KEYS[1], ARGV[1]) == 0 then
    return 0
end
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('del', KEYS[3] .. ':' .. ARGV[1])
return 1
