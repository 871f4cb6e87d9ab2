// The CLI's progress display: a bar redrawn in place on a terminal, nothing but lines elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress } from '@quantlab/cli/follow';

function stream(isTTY: boolean) {
  const out: string[] = [];
  return { out, s: { isTTY, columns: 60, write: (x: string) => (out.push(x), true) } as unknown as NodeJS.WriteStream };
}

test('on a terminal: the bar is redrawn on one line, cut to the width, and cleared before a line that stays', () => {
  const { out, s } = stream(true);
  const p = new Progress(s, true);
  p.bar(0.5, 'run_x  running  epoch 1/2');
  assert.equal(out.at(-1), '\r[############------------]  50%  run_x  running  epoch 1/2\u001b[K');
  p.bar(1, 'x'.repeat(100));
  assert.equal(out.at(-1)!.length, '\r'.length + 59 + '\u001b[K'.length, 'no wider than the terminal');
  p.line('run_x  epoch 2/2');
  assert.deepEqual(out.slice(-2), ['\r\u001b[K', 'run_x  epoch 2/2\n']);
  p.bar(0.25, 'y');
  p.done();
  assert.equal(out.at(-1), '\n');
});

test('elsewhere: bars draw nothing, lines are plain', () => {
  const { out, s } = stream(false);
  const p = new Progress(s);
  assert.equal(p.tty, false);
  p.bar(0.5, 'hidden');
  p.line('run_x  completed');
  p.done();
  assert.deepEqual(out, ['run_x  completed\n']);
});

test('the run bar takes the further of the throttled progress and the epochs already listed', async () => {
  const { runBar } = await import('@quantlab/cli/follow');
  const { ExperimentConfig, newRunDocument } = await import('@quantlab/shared');
  const doc = newRunDocument(ExperimentConfig.parse({ dataset: 'mnist', model: 'mlp', training: { epochs: 3 } }), { id: 'run_x', createdAt: new Date(0).toISOString() });
  const epoch = (n: number, acc: number) => ({ epoch: n, trainLoss: 1, trainAccuracy: 0.5, testAccuracy: acc, durationMs: 10, imagesPerSec: 100 });
  // progress last written during epoch 1, epochs 1 and 2 already reported
  const behind = { ...doc, status: 'running' as const, progress: { epoch: 1, epochs: 3, fraction: 0.3 }, epochs: [epoch(1, 0.48), epoch(2, 0.69)] };
  const [fraction, text] = runBar('run_x', behind as typeof doc);
  assert.equal(fraction, 2 / 3);
  assert.match(text, /epoch 2\/3 {2}test acc 69\.00%$/);
  // and progress ahead of the epochs (mid-epoch 3) is kept
  const ahead = { ...behind, progress: { epoch: 3, epochs: 3, fraction: 0.8 } };
  assert.deepEqual(runBar('run_x', ahead as typeof doc)[0], 0.8);
  assert.match(runBar('run_x', ahead as typeof doc)[1], /epoch 3\/3/);
});
