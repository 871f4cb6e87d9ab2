import type { Redis } from 'ioredis';

// The sweep record keeps runIds and baselines as JSON in hash fields. Editing them in Lua makes concurrent deletes and
// retries of one sweep's runs safe without WATCH (which a shared, auto-pipelined connection cannot do).
// KEYS[1] sweep hash; ARGV: pairs of (old id, new id or '') — '' removes the id; a missing old id with a new id appends.
// cjson encodes an empty table as {}, hence the explicit '[]'.
const EDIT_SWEEP_RUNS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ids = cjson.decode(redis.call('HGET', KEYS[1], 'runIds') or '[]')
local baselines = cjson.decode(redis.call('HGET', KEYS[1], 'baselines') or '{}')
for i = 1, #ARGV, 2 do
  local old, new = ARGV[i], ARGV[i + 1]
  local out, found = {}, false
  for _, id in ipairs(ids) do
    if id == old then
      found = true
      if new ~= '' then out[#out + 1] = new end
    else
      out[#out + 1] = id
    end
  end
  if not found and new ~= '' and old == '' then out[#out + 1] = new end
  ids = out
  for seed, id in pairs(baselines) do
    if id == old and new ~= '' then baselines[seed] = new end
  end
end
redis.call('HSET', KEYS[1], 'runIds', #ids == 0 and '[]' or cjson.encode(ids))
if next(baselines) ~= nil then redis.call('HSET', KEYS[1], 'baselines', cjson.encode(baselines)) end
return #ids
`;

/**
 * Edits a sweep's run list atomically: each [old, new] pair replaces old by new (and in the baselines map), [old, '']
 * removes old, ['', new] appends new. Returns the number of runs left, or 0 when the sweep does not exist.
 */
export async function editSweepRuns(redis: Redis, sweepKey: string, pairs: [string, string][]): Promise<number> {
  // EVAL rather than defineCommand: a command defined later than an auto-pipelined connection was made is missing from
  // its pipelines.
  return (await redis.eval(EDIT_SWEEP_RUNS, 1, sweepKey, ...pairs.flat())) as number;
}
