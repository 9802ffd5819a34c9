-- Puts the jobs of dead workers first in line: the next free slot of any worker runs them,
-- ahead of the backlog (apalis-redis's rule put them behind every waiting job), and forgets
-- those workers. A worker that was only silent finds itself gone at its next beat, and its
-- late settlements of these jobs are dropped (exchange.lua).
--
-- KEYS[1] workers sorted set (score: last heartbeat), KEYS[2] active list (fetched from its
-- head), KEYS[3] in-flight sets' prefix
-- ARGV[1] the last heartbeat time (seconds) at or before which a worker is dead
-- ARGV[2] the calling worker, never taken for dead
-- Returns how many jobs were moved.
local moved = 0
for _, worker in ipairs(redis.call('zrangebyscore', KEYS[1], 0, ARGV[1])) do
    if worker ~= ARGV[2] then
        local in_flight = KEYS[3] .. ':' .. worker
        local jobs = redis.call('smembers', in_flight)
        if #jobs > 0 then
            redis.call('lpush', KEYS[2], unpack(jobs))
            redis.call('del', in_flight)
            moved = moved + #jobs
        end
        redis.call('zrem', KEYS[1], worker)
    end
end
return moved
