import type { Redis } from 'ioredis';
import { StopDecision, type StoppingRule } from '../schemas/run.ts';
import { keysFor, type Keys } from './keys.ts';
import { FenceLostError, type Fence } from './run-store.ts';

// KEYS[1] job lock ('' = unfenced), KEYS[2] the sweep's decisions hash, KEYS[3] the sweep's accuracies zset.
// ARGV[1] lock token, ARGV[2] run id, ARGV[3] epoch, ARGV[4] test accuracy, ARGV[5] the run's last epoch,
// ARGV[6] rule kind, ARGV[7..8] its parameters (median: warmup, minPeers; asha: minEpochs, reduction).
// Recording the accuracy and deciding in one script is what makes two runs reporting the same epoch at once see
// each other in a fixed order; the memo makes a repeated report (a run resumed after a crash) get the same answer.
// An epoch's reports share one score range (epoch * 10 + accuracy, accuracy in [0, 1]), so a decision reads only
// its epoch's peers; every accuracy is read back from its score, so equal accuracies compare equal.
const JUDGE_EPOCH = `
if KEYS[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local run, epoch, last = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5])
local field = run .. ':' .. ARGV[3]
local memo = redis.call('HGET', KEYS[2], field)
if memo then return memo end
local base = epoch * 10
local me = ARGV[3] .. ':' .. run
redis.call('ZADD', KEYS[3], base + tonumber(ARGV[4]), me)
local acc = tonumber(redis.call('ZSCORE', KEYS[3], me)) - base
local others = {}
local all = redis.call('ZRANGEBYSCORE', KEYS[3], base, base + 1, 'WITHSCORES')
for i = 1, #all, 2 do
  if all[i] ~= me and string.sub(all[i], 1, #ARGV[3] + 1) == ARGV[3] .. ':' then others[#others + 1] = tonumber(all[i + 1]) - base end
end
local reason = nil
if epoch < last then
  if ARGV[6] == 'median' then
    local warmup, minPeers = tonumber(ARGV[7]), tonumber(ARGV[8])
    if epoch >= warmup and #others >= minPeers then
      table.sort(others)
      local n = #others
      local median
      if n % 2 == 1 then median = others[(n + 1) / 2] else median = (others[n / 2] + others[n / 2 + 1]) / 2 end
      if acc < median then
        reason = string.format('median rule: test accuracy %.4f at epoch %d is below the median %.4f of the %d other run(s) at that epoch', acc, epoch, median, n)
      end
    end
  else
    local rung, eta = tonumber(ARGV[7]), tonumber(ARGV[8])
    while rung < epoch do rung = rung * eta end
    if rung == epoch then
      others[#others + 1] = acc
      table.sort(others, function(a, b) return a > b end)
      local keep = math.max(1, math.floor(#others / eta))
      if acc < others[keep] then
        reason = string.format('successive halving: test accuracy %.4f at rung epoch %d is not in the top %d of the %d run(s) at that rung (needs %.4f)', acc, epoch, keep, #others, others[keep])
      end
    end
  end
end
if reason == nil then
  redis.call('HSET', KEYS[2], field, 'continue')
  return 'continue'
end
local decision = cjson.encode({ epoch = epoch, reason = reason })
redis.call('HSET', KEYS[2], field, decision, run, decision)
return decision
`;

export type EpochVerdict = { stop: false } | { stop: true; decision: StopDecision };

/** A run as the stopping rule sees it. */
export interface JudgedRun {
  id: string;
  sweepId: string;
  stopping: StoppingRule;
  /** The run's last epoch: a run that has finished training is never stopped. */
  epochs: number;
}

/**
 * Early stopping inside a sweep: each run's test accuracy per epoch and the decisions taken on them, kept with the
 * sweep in Redis. The decision is taken in Redis, atomically, when a worker reports an epoch, so any number of
 * workers (and restarts) agree on it.
 */
export class StoppingStore {
  readonly keys: Keys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = keysFor(prefix);
    if (!('quantlabJudgeEpoch' in redis)) redis.defineCommand('quantlabJudgeEpoch', { numberOfKeys: 3, lua: JUDGE_EPOCH });
  }

  /** Records the run's test accuracy at `epoch` and decides whether it stops there; fenced like every run write. */
  async judge(run: JudgedRun, epoch: number, testAccuracy: number, fence?: Fence): Promise<EpochVerdict> {
    const rule = run.stopping;
    const params = rule.kind === 'median' ? [rule.warmup, rule.minPeers] : [rule.minEpochs, rule.reduction];
    const acc = Math.min(1, Math.max(0, Number.isFinite(testAccuracy) ? testAccuracy : 0));
    const out = await (this.redis as unknown as JudgeRedis).quantlabJudgeEpoch(
      fence?.lockKey ?? '',
      this.keys.sweepStops(run.sweepId),
      this.keys.sweepAccuracies(run.sweepId),
      fence?.token ?? '',
      run.id,
      String(epoch),
      String(acc),
      String(run.epochs),
      rule.kind,
      ...params.map(String),
    );
    if (out === -1) throw new FenceLostError(run.id);
    if (out === 'continue') return { stop: false };
    return { stop: true, decision: StopDecision.parse(JSON.parse(String(out))) };
  }

  /** The stop decided for a run earlier (before a crash or a restart), if any. */
  async decisionOf(sweepId: string, runId: string): Promise<StopDecision | null> {
    const raw = await this.redis.hget(this.keys.sweepStops(sweepId), runId);
    return raw ? StopDecision.parse(JSON.parse(raw)) : null;
  }
}

interface JudgeRedis {
  quantlabJudgeEpoch(lockKey: string, stops: string, accuracies: string, token: string, ...args: string[]): Promise<string | number>;
}
