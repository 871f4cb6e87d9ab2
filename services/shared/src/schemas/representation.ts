import { z } from 'zod';
import { COMPACT_MASTER_TAG } from './label.ts';

/** The weight representations quantlab trains and evaluates with (Kibune & Lee, ICONIP 2017). */
export const Float32Representation = z.strictObject({ kind: z.literal('float32') });

/** One step (fixed point) or scale (dictionary) a layer, or one per output channel (the kernel's last axis). */
export const Granularity = z.enum(['layer', 'channel']).default('layer');

export const FixedRepresentation = z
  .strictObject({
    kind: z.literal('fixed'),
    /** Total signed bit width; 32 is accepted as an identity check. */
    bits: z
      .number()
      .int()
      .refine((b) => (b >= 2 && b <= 16) || b === 32, { message: 'bits must be 2..16 (or 32 as an identity check)' }),
    /**
     * pow2: the paper's Q-format, integer bits = the smallest power of two holding max|w| (or 2^-fractionBits steps),
     * saturating; maxabs: linear quantization, step = max|w| / (2^(bits-1) - 1); mse: the step minimizing the squared
     * error (searched as a dictionary's scale is).
     */
    range: z.enum(['pow2', 'maxabs', 'mse']).default('maxabs'),
    /** Fixes the step at 2^-fractionBits (pow2 only); may exceed bits when weights are small. */
    fractionBits: z.number().int().min(-16).max(40).optional(),
    rounding: z.enum(['nearest', 'stochastic']).default('nearest'),
    granularity: Granularity,
  })
  .refine((r) => r.fractionBits === undefined || r.range === 'pow2', {
    message: 'fractionBits is only allowed with range "pow2"',
    path: ['fractionBits'],
  })
  .refine((r) => r.fractionBits === undefined || r.granularity === 'layer', {
    message: 'fractionBits fixes one step for every weight: granularity "channel" does not apply',
    path: ['granularity'],
  })
  .refine((r) => r.range !== 'mse' || r.bits <= 16, { message: 'range "mse" takes bits 2..16', path: ['bits'] });

export const DictionaryRepresentation = z.strictObject({
  kind: z.literal('dictionary'),
  /** 2^bits entries. */
  bits: z.number().int().min(1, 'bits must be at least 1').max(10, 'a dictionary has at most 2^10 entries (bits <= 10)'),
  /** global: one dictionary shared by all layers with a per-layer MSE-optimal scale (the paper); per-layer: one each. */
  scope: z.enum(['global', 'per-layer']).default('global'),
  /** uniform: entries evenly spaced over the range; nonuniform: entries spaced by the cube root of the weights' density (MSE-optimal for many levels). */
  init: z.enum(['uniform', 'nonuniform']).default('uniform'),
  /** Lloyd (k-means) iterations after initialization. */
  refine: z.number().int().min(0).max(20).default(0),
  refitEvery: z.enum(['step', 'epoch']).default('epoch'),
  /** channel: every output channel gets its own scale (per-layer scope: one dictionary a layer, scaled per channel). */
  granularity: Granularity,
});

export const Representation = z.discriminatedUnion('kind', [
  Float32Representation,
  FixedRepresentation,
  DictionaryRepresentation,
]);

/** Every representation kind (metric labels are zero-filled over these). */
export const REPRESENTATION_KINDS = Representation.options.map((o) => o.shape.kind.value);

export type Float32Representation = z.infer<typeof Float32Representation>;
export type FixedRepresentation = z.infer<typeof FixedRepresentation>;
export type DictionaryRepresentation = z.infer<typeof DictionaryRepresentation>;
export type Representation = z.infer<typeof Representation>;

/** Bits per weight of a representation as stored (float32 = 32). */
export function bitsOf(r: Representation): number {
  return r.kind === 'float32' ? 32 : r.bits;
}

/**
 * The stable name of a line in the paper's figure: the representation without its bit width, plus the phase, plus
 * `/compact` when training kept only compact weights (training.master), for example `fixed/maxabs/nearest/training`,
 * `fixed/pow2/stochastic/training/compact` or `dictionary/global/uniform/r0/epoch/inference`.
 */
export function seriesOf(r: Representation, phase: 'training' | 'inference', master: 'float32' | 'compact' = 'float32'): string {
  const tail = master === 'compact' ? `${phase}/${COMPACT_MASTER_TAG}` : phase;
  switch (r.kind) {
    case 'float32':
      return `float32/${tail}`;
    case 'fixed':
      return ['fixed', r.range + (r.fractionBits === undefined ? '' : `:f${r.fractionBits}`) + channelTag(r), r.rounding, tail].join('/');
    case 'dictionary':
      return ['dictionary', r.scope + channelTag(r), r.init, `r${r.refine}`, r.refitEvery, tail].join('/');
  }
}

export { COMPACT_MASTER_TAG, labelOf, seriesParts } from './label.ts';

/** Per-channel series carry `:channel`; per-layer ones keep the names they had before granularity existed. */
function channelTag(r: { granularity?: 'layer' | 'channel' }): string {
  return r.granularity === 'channel' ? ':channel' : '';
}
