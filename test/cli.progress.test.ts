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
