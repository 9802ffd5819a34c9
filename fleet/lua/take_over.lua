-- Puts the jobs of dead workers first in line: the next free slot of any worker runs them,
-- ahead of the backlog. apalis-redis's own rule (reenqueue_orphaned.lua, run at each
-- heartbeat) does the same with rpush, behind every waiting job; whichever runs first moves
-- a dead worker's jobs, the other then finds none.
--
-- KEYS[1] workers sorted set (score: last heartbeat), KEYS[2] active list (fetched from its
-- head), KEYS[3] signal list, KEYS[4] in-flight sets' prefix
-- ARGV[1] the last heartbeat time (seconds) at or before which a worker is dead
-- ARGV[2] the calling worker, never taken for dead
-- Returns how many jobs were moved.
local moved = 0
for _, worker in ipairs(redis.call('zrangebyscore', KEYS[1], 0, ARGV[1])) do
    if worker ~= ARGV[2] then
        local in_flight = KEYS[4] .. ':' .. worker
        local jobs = redis.call('smembers', in_flight)
        if #jobs > 0 then
            redis.call('lpush', KEYS[2], unpack(jobs))
            redis.call('del', in_flight)
            moved = moved + #jobs
        end
        redis.call('zrem', KEYS[1], worker)
    end
end
if moved > 0 then
    redis.call('del', KEYS[3])
    redis.call('lpush', KEYS[3], 1)
end
return moved
