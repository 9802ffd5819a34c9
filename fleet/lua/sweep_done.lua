-- Forgets jobs the queue has finished with: a done job's result is already on the results
-- stream, so its payload and metadata in the queue are dead weight (apalis-redis keeps them
-- forever). Jobs in the dead set are kept, with their error, for a human.
--
-- KEYS[1] done set, KEYS[2] task data hash, KEYS[3] task meta prefix
-- ARGV[1] at most this many jobs per call, so that one call stays short
-- Returns how many jobs were forgotten.
local ids = redis.call('spop', KEYS[1], tonumber(ARGV[1]))
if #ids == 0 then
    return 0
end
-- One HDEL and one DEL for the whole batch: Redis's cost is mostly per command.
local metas = {}
for i, task_id in ipairs(ids) do
    metas[i] = KEYS[3] .. ':' .. task_id
end
redis.call('hdel', KEYS[2], unpack(ids))
redis.call('del', unpack(metas))
return #ids
