/**
 * Waiting on the API from the shell: a run followed over its live event stream (reconnecting with Last-Event-ID when
 * the connection drops), a sweep followed through its document. Progress goes to stderr: a bar redrawn in place on a
 * terminal, plain lines otherwise (logs, CI), so stdout keeps only the result.
 */
import { followRun, type RunDocument, type SweepDocument } from '@quantlab/client';
import type { Api } from '@quantlab/client';
import { CliError } from './cli-error.ts';
import { body, pct } from './api-client.ts';

type Epoch = RunDocument['epochs'][number];

const FINAL = new Set(['completed', 'failed', 'cancelled', 'stopped']);

/** A progress display on a stream: `bar()` redraws one line on a terminal; `line()` prints a line that stays. */
export class Progress {
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    readonly tty = Boolean(out.isTTY) && process.env.TERM !== 'dumb',
  ) {}

  bar(fraction: number, text: string): void {
    if (!this.tty) return;
    const width = 24;
    const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
    const cols = this.out.columns ?? 100;
    const s = `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(Math.round(fraction * 100)).padStart(3)}%  ${text}`;
    this.out.write(`\r${s.slice(0, cols - 1)}\x1b[K`);
    this.drawn = true;
  }

  line(text: string): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    this.out.write(text + '\n');
  }

  done(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}

export const epochLine = (id: string, e: Epoch, of: number) =>
  `${id}  epoch ${e.epoch}/${of}  train loss ${e.trainLoss.toFixed(4)}  train acc ${pct(e.trainAccuracy)}  test acc ${pct(e.testAccuracy) ?? '-'}  ${Math.round(e.imagesPerSec)} images/s`;

export interface FollowRunOptions {
  /** Print each epoch as a line (logs, status --follow); otherwise a terminal gets a bar and only status lines. */
  epochLines: boolean;
  progress: Progress;
  /** Called once with the document of the first connection (status --follow prints it). */
  first?: (doc: RunDocument) => void;
}

/**
 * A run's bar: fraction and text. The worker writes `progress` at most once a second, while each epoch arrives as it
 * ends, so a short epoch can be listed before progress names it: the bar takes whichever is further.
 */
export function runBar(id: string, doc: RunDocument): [number, string] {
  const of = doc.progress.epochs || doc.config.training.epochs;
  const last = doc.epochs.at(-1);
  const epoch = Math.max(doc.progress.epoch, last?.epoch ?? 0);
  const fraction = Math.max(doc.progress.fraction, of ? (last?.epoch ?? 0) / of : 0);
  return [fraction, `${id}  ${doc.status}  epoch ${epoch}/${of}${last ? `  test acc ${pct(last.testAccuracy) ?? '-'}` : ''}`];
}

/** Follows a run until it ends and returns its final document. Epochs are printed once, however often it reconnects. */
export async function followRunToEnd(api: Api, id: string, o: FollowRunOptions): Promise<RunDocument> {
  const { progress } = o;
  let printed = 0; // the last epoch printed
  let status = '';
  let firstSeen = false;
  const show = (doc: RunDocument) => {
    if (doc.status !== status) {
      status = doc.status;
      if (!FINAL.has(status)) progress.line(`${id}  ${status}`);
    }
    const of = doc.progress.epochs || doc.config.training.epochs;
    for (const e of doc.epochs) {
      if (e.epoch <= printed) continue;
      printed = e.epoch;
      if (o.epochLines || !progress.tty) progress.line(epochLine(id, e, of));
    }
    progress.bar(...runBar(id, doc));
  };
  const final = await followRun(api, id, {
    onSnapshot: (doc) => {
      if (!firstSeen) o.first?.(doc);
      firstSeen = true;
      show(doc);
    },
    onEvent: (e, doc) => {
      if (e.event !== 'snapshot' && doc) show(doc);
    },
    onReconnect: (attempt, err) => progress.line(`${id}  connection lost (${(err as Error).message}); reconnecting (${attempt})`),
  }).catch((err: unknown) => {
    if (err instanceof CliError) throw err;
    throw new CliError(`following ${id}: ${(err as Error).message}`);
  });
  show(final);
  progress.done();
  return final;
}

/** One line for a finished run: its status, accuracy and, for a failure, the reason. */
export function outcomeLine(d: RunDocument): string {
  const acc = pct(d.metrics.testAccuracy);
  return `${d.id}  ${d.status}${acc ? `  test acc ${acc}` : ''}${d.error ? `: ${d.error.message}` : d.stopped ? `: ${d.stopped.reason}` : ''}`;
}

/**
 * Follows a sweep until every run ended: the live event streams of up to `streams` runs at a time, in the sweep's
 * order (baselines first, as the queue runs them); a line as each run ends, a bar of ended runs on a terminal.
 * Returns the sweep's final document.
 */
export async function followSweepToEnd(api: Api, id: string, progress: Progress, streams = 8): Promise<SweepDocument> {
  const params = { path: { id } };
  const first = body(await api.GET('/sweeps/{id}', { params }));
  const ids = [...first.runs].sort((a, b) => Number(Boolean(a.baselineId)) - Number(Boolean(b.baselineId))).map((r) => r.id);
  const total = ids.length;
  let ended = 0;
  let failed = 0;
  const active = new Map<string, string>(); // run id -> its latest state, for the bar
  const draw = () => progress.bar(total ? ended / total : 1, `${id}  ${ended}/${total} ended${failed ? ` (${failed} not completed)` : ''}  ${[...active.values()].slice(0, 2).join('  ')}`);
  const next = async (): Promise<void> => {
    for (let runId = ids.shift(); runId !== undefined; runId = ids.shift()) {
      const d = await followRun(api, runId, {
        onSnapshot: (doc) => {
          active.set(runId, `${runId.slice(0, 12)}… ${doc.status}`);
          draw();
        },
        onEvent: (_e, doc) => {
          if (doc) active.set(runId, `${runId.slice(0, 12)}… epoch ${doc.progress.epoch}/${doc.progress.epochs}`);
          draw();
        },
        onReconnect: (attempt, err) => progress.line(`${runId}  connection lost (${(err as Error).message}); reconnecting (${attempt})`),
      });
      active.delete(runId);
      ended += 1;
      if (d.status !== 'completed' && d.status !== 'stopped') failed += 1;
      progress.line(`${outcomeLine(d)}  (${ended}/${total})`);
      draw();
    }
  };
  draw();
  await Promise.all(Array.from({ length: Math.min(streams, total) }, next)).catch((err: unknown) => {
    if (err instanceof CliError) throw err;
    throw new CliError(`following ${id}: ${(err as Error).message}`);
  });
  progress.done();
  return body(await api.GET('/sweeps/{id}', { params }));
}
