-- Gives a stopping worker's jobs back, first in line, and takes the worker off the workers
-- set: a clean stop whose jobs outlived the grace period leaves them to the next free slot
-- now, not after the orphan rule's wait.
--
-- KEYS[1] workers sorted set, KEYS[2] active list, KEYS[3] the worker's in-flight set
-- ARGV[1] the worker
-- Returns how many jobs were given back.
local jobs = redis.call('smembers', KEYS[3])
if #jobs > 0 then
    redis.call('lpush', KEYS[2], unpack(jobs))
    redis.call('del', KEYS[3])
end
redis.call('zrem', KEYS[1], ARGV[1])
return #jobs
