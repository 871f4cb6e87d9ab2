import { z } from 'zod';
import { COMPACT_MASTER_TAG } from './label.ts';
import { REPRESENTATION_DEFAULTS as D } from './defaults.ts';
import { MODEL_LAYERS, layerWidths } from './model-layers.ts';
import { REPRESENTATION_KINDS, DICTIONARY_INITS, DICTIONARY_SCOPES, DICTIONARY_UPDATES, FIXED_RANGES, GRANULARITIES, ROUNDINGS } from './choices.ts';

/** Every representation kind (metric labels are zero-filled over these). */
export { REPRESENTATION_KINDS };
const [FLOAT32, FIXED, DICTIONARY] = REPRESENTATION_KINDS;

/** The weight representations quantlab trains and evaluates with (Kibune & Lee, ICONIP 2017). */
export const Float32Representation = z.strictObject({ kind: z.literal(FLOAT32) });

/** One step (fixed point) or scale (dictionary) a layer, or one per output channel (the kernel's last axis). */
export const Granularity = z.enum(GRANULARITIES).default(D.granularity);

/** At most this many layers in a bitsPerLayer (resnet20 has 20; the cap keeps a request small). */
export const MAX_BITS_PER_LAYER = 256;

/**
 * Per-layer widths: an object by layer name (layers it leaves out take `bits`), or a list with one width a layer in
 * the model's order (MODEL_LAYERS). A width of 32 keeps that layer's weights in float32, exactly. Checked against the
 * model's layers by ExperimentConfig.
 */
function bitsPerLayerOf(width: z.ZodType<number>) {
  return z
    .union([
      z.record(z.string().min(1).max(200), width).refine((o) => Object.keys(o).length <= MAX_BITS_PER_LAYER, `at most ${MAX_BITS_PER_LAYER} layers`),
      z.array(width).min(1).max(MAX_BITS_PER_LAYER),
    ])
    .optional();
}
const FixedWidth = z
  .number()
  .int()
  .refine((b) => (b >= 2 && b <= 16) || b === 32, { message: 'a layer width must be 2..16 bits, or 32 (the layer stays float32)' });
const DictionaryWidth = z
  .number()
  .int()
  .refine((b) => (b >= 1 && b <= 10) || b === 32, { message: 'a layer width must be 1..10 bits, or 32 (the layer stays float32)' });

export const FixedRepresentation = z
  .strictObject({
    kind: z.literal(FIXED),
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
    range: z.enum(FIXED_RANGES).default(D.fixed.range),
    /** Fixes the step at 2^-fractionBits (pow2 only); may exceed bits when weights are small. */
    fractionBits: z.number().int().min(-16).max(40).optional(),
    rounding: z.enum(ROUNDINGS).default(D.fixed.rounding),
    granularity: Granularity,
    /** Widths by layer (the rest take `bits`); 32 keeps a layer float32. */
    bitsPerLayer: bitsPerLayerOf(FixedWidth),
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

export const DictionaryRepresentation = z
  .strictObject({
    kind: z.literal(DICTIONARY),
    /** 2^bits entries. */
    bits: z.number().int().min(1, 'bits must be at least 1').max(10, 'a dictionary has at most 2^10 entries (bits <= 10)'),
    /** global: one dictionary shared by all layers with a per-layer MSE-optimal scale (the paper); per-layer: one each. */
    scope: z.enum(DICTIONARY_SCOPES).default(D.dictionary.scope),
    /** uniform: entries evenly spaced over the range; nonuniform: entries spaced by the cube root of the weights' density (MSE-optimal for many levels). */
    init: z.enum(DICTIONARY_INITS).default(D.dictionary.init),
    /** Lloyd (k-means) iterations after initialization. */
    refine: z.number().int().min(0).max(20).default(D.dictionary.refine),
    /** never: fitted once at the run's first step (only with update "gradient", which trains it from there). */
    refitEvery: z.enum(['step', 'epoch', 'never']).default('epoch'),
    /** channel: every output channel gets its own scale (per-layer scope: one dictionary a layer, scaled per channel). */
    granularity: Granularity,
    /**
     * refit: entries and scales follow the master weights by fitting (k-means) at every refit. gradient: they are also
     * trained by SGD between refits, each entry by the sum of the gradients of the weights coded to it (times their
     * scale), each scale by the sum of its weights' gradients times their entries; with refitEvery "epoch" the
     * dictionary is refit at the start of every epoch and trained through it, with "never" fitted once and then only
     * trained. Evaluation and the artifact use the trained dictionary.
     */
    update: z.enum(DICTIONARY_UPDATES).default(D.dictionary.update),
    /** Per-layer scope only: widths by layer (the rest take `bits`); 32 keeps a layer float32. */
    bitsPerLayer: bitsPerLayerOf(DictionaryWidth),
  })
  .refine((r) => r.update === 'gradient' || r.refitEvery !== 'never', {
    message: 'refitEvery "never" needs update "gradient" (a dictionary that is neither refit nor trained would stay at its first fit)',
    path: ['refitEvery'],
  })
  .refine((r) => r.update === 'refit' || r.refitEvery !== 'step', {
    message: 'update "gradient" trains the dictionary between refits: a refit every step leaves nothing to train (use refitEvery "epoch" or "never")',
    path: ['update'],
  })
  .refine((r) => r.bitsPerLayer === undefined || r.scope === 'per-layer', {
    message: 'bitsPerLayer needs scope "per-layer": a global dictionary has one width',
    path: ['bitsPerLayer'],
  });

export const Representation = z.discriminatedUnion('kind', [
  Float32Representation,
  FixedRepresentation,
  DictionaryRepresentation,
]);

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
export function seriesOf(r: Representation, phase: 'training' | 'inference', model?: string, master: 'float32' | 'compact' = 'float32'): string {
  const tail = master === 'compact' ? `${phase}/${COMPACT_MASTER_TAG}` : phase;
  switch (r.kind) {
    case 'float32':
      return `float32/${tail}`;
    case 'fixed':
      return ['fixed', r.range + (r.fractionBits === undefined ? '' : `:f${r.fractionBits}`) + channelTag(r), r.rounding, tail].join('/') + widthsTag(r, model);
    case 'dictionary':
      return (
        ['dictionary', r.scope + channelTag(r), r.init, `r${r.refine}`, r.refitEvery + (r.update === 'gradient' ? ':gradient' : ''), tail].join('/') +
        widthsTag(r, model)
      );
  }
}

/**
 * Per-layer widths in a series: `/layer:NAME` when one layer is quantized (at `bits`) and every other stays float32
 * (a sensitivity run), else `/bits:` and the widths in layer order (`/bits:4.4.2.2.8`). Uniform series stay as they were.
 */
function widthsTag(r: { bits: number; bitsPerLayer?: Record<string, number> | number[] }, model: string | undefined): string {
  if (r.bitsPerLayer === undefined) return '';
  const layers = model === undefined ? undefined : (MODEL_LAYERS as Record<string, readonly string[]>)[model];
  if (!layers) return `/bits:${Array.isArray(r.bitsPerLayer) ? r.bitsPerLayer.join('.') : JSON.stringify(r.bitsPerLayer)}`;
  const widths = layerWidths(r.bits, r.bitsPerLayer, layers);
  const quantized = widths.flatMap((b, i) => (b < 32 ? [i] : []));
  if (quantized.length === 1 && widths[quantized[0]] === r.bits) return `/layer:${layers[quantized[0]]}`;
  return `/bits:${widths.join('.')}`;
}

export { COMPACT_MASTER_TAG, labelOf, seriesParts } from './label.ts';

/** Per-channel series carry `:channel`; per-layer ones keep the names they had before granularity existed. */
function channelTag(r: { granularity?: 'layer' | 'channel' }): string {
  return r.granularity === 'channel' ? ':channel' : '';
}
