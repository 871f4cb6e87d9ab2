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
    const last = doc.epochs.at(-1);
    progress.bar(doc.progress.fraction, `${id}  ${doc.status}  epoch ${doc.progress.epoch}/${of}${last ? `  test acc ${pct(last.testAccuracy) ?? '-'}` : ''}`);
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

/** Polls a sweep until every run ended; a line whenever a count changes, a bar on a terminal. */
export async function followSweepToEnd(api: Api, id: string, progress: Progress, everyMs = Number(process.env.QUANTLAB_POLL_MS ?? 1000)): Promise<SweepDocument> {
  let last = '';
  for (;;) {
    const s = body(await api.GET('/sweeps/{id}', { params: { path: { id } } }));
    const c = s.counts;
    const total = s.runs.length;
    const ended = s.runs.filter((r) => FINAL.has(r.status)).length;
    const text = `${id}  ${ended}/${total} ended: ${c.completed} completed, ${c.running} running, ${c.queued} queued, ${c.failed} failed, ${c.cancelled} cancelled${c.stopped ? `, ${c.stopped} stopped early` : ''}`;
    if (text !== last && !progress.tty) progress.line(text);
    last = text;
    progress.bar(total ? ended / total : 1, text);
    if (ended === total) {
      progress.done();
      return s;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
