/**
 * The statistics a bit-width study reports: a t-interval of the mean over seeds, a binomial (Wilson) interval of one
 * run's accuracy, and McNemar's exact test of two runs on the same test images.
 */

/** Two-sided 95% quantiles of Student's t, t_{0.975, df}, df = 1..30; beyond, the normal 1.96 is within 2%. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074,
  2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function t975(df: number): number {
  if (!(df >= 1)) throw new RangeError(`degrees of freedom must be >= 1, got ${df}`);
  return df <= 30 ? T975[Math.floor(df) - 1] : 1.96;
}

/** mean ± t_{0.975, n−1}·s/√n over `values`; null for fewer than two values (no spread to estimate). */
export function meanInterval95(values: readonly number[]): [number, number] | null {
  const n = values.length;
  if (n < 2) return null;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = (t975(n - 1) * sd) / Math.sqrt(n);
  return [mean - half, mean + half];
}

/** Wilson score 95% interval of k successes in n trials (stays inside [0, 1], sound at 0 and n). */
export function wilson95(k: number, n: number): [number, number] {
  if (!(n > 0)) return [0, 1];
  const z = 1.959964;
  const p = k / n;
  const den = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / den;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * McNemar's exact test: b images only the first run gets right, c only the second. Under "the two classify equally
 * well", each of the b + c discordant images is a fair coin: p = min(1, 2·P(X ≤ min(b, c))), X ~ Binomial(b + c, ½).
 * Summed in log space, so thousands of discordant images do not underflow.
 */
export function mcnemarExact(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  const logHalfN = n * Math.log(0.5);
  let logTerm = logHalfN; // log C(n, 0)·½^n
  let sum = Math.exp(logTerm);
  for (let i = 1; i <= k; i++) {
    logTerm += Math.log((n - i + 1) / i);
    sum += Math.exp(logTerm);
  }
  return Math.min(1, 2 * sum);
}

/** A bitset of correctly classified test images (RunMetrics.correct) from base64. */
export function decodeBitset(base64: string): Uint8Array {
  return Uint8Array.from(Buffer.from(base64, 'base64'));
}

/** Number of set bits. */
export function popcount(bits: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    let v = bits[i];
    while (v) {
      v &= v - 1;
      n++;
    }
  }
  return n;
}

/** The discordant counts of two bitsets over the same images: b = right only in `a`, c = right only in `b`. */
export function discordant(a: Uint8Array, b: Uint8Array): { b: number; c: number } {
  if (a.length !== b.length) throw new RangeError(`bitsets of ${a.length} and ${b.length} bytes cover different test sets`);
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < a.length; i++) {
    onlyA += popcount(Uint8Array.of(a[i] & ~b[i] & 0xff));
    onlyB += popcount(Uint8Array.of(b[i] & ~a[i] & 0xff));
  }
  return { b: onlyA, c: onlyB };
}
