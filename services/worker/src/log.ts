import type { Env } from '@quantlab/shared';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: 100 } as const;
type Level = Exclude<keyof typeof LEVELS, 'silent'>;

export type Logger = Record<Level, (msg: string, fields?: Record<string, unknown>) => void>;

/** One JSON line per event on stderr (the same shape as the API's pino lines), filtered by LOG_LEVEL. */
export function createLogger(level: Env['LOG_LEVEL'], base: Record<string, unknown> = {}): Logger {
  const min = LEVELS[level];
  const make = (l: Level) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (LEVELS[l] < min) return;
    process.stderr.write(JSON.stringify({ level: LEVELS[l], time: Date.now(), ...base, msg, ...fields }) + '\n');
  };
  return { trace: make('trace'), debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error'), fatal: make('fatal') };
}
