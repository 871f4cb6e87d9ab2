/**
 * Energy of one inference image (RunMetrics.energy), from Horowitz, "Computing's energy problem (and what we can do
 * about it)", ISSCC 2014, 45 nm figures; the paper's reference 1 and why bits matter. This file holds the table and
 * the scaling rule; docs/ENERGY.md explains them.
 *
 * Rule:
 *   weightReadPj = Σ params n·bits / 32 × DRAM read of 32 bits: every weight read once per image from DRAM at its
 *                  stored bits (quantized params at the representation's bits, the rest at 32); memory energy scales
 *                  with the bits moved. Dictionaries' entries and scales (at most a few KB) are left out.
 *   macPj        = MACs × (fp32 multiply + fp32 add): the activations stay float32, so every MAC is a float one.
 *   totalPj      = weightReadPj + macPj.
 *   ifActivations (not what the run computes): the same MACs as N×N-bit integer MACs, N = the weights' bits
 *                  (32 for float32), scaling Horowitz's 8-bit figures as an array multiplier does (∝ N²) and an
 *                  adder (∝ N). At N = 32 this gives 3.2 + 0.12 pJ, close to Horowitz's 32-bit integer 3.1 + 0.1.
 */
import { bitsOf, type InferenceEnergy, type Representation } from '@quantlab/shared';
import { macsPerImage } from '../models/macs.ts';
import { paramCount, type Model } from '../models/index.ts';
import { quantizedIndices } from './compactor.ts';
import { resolveWidths } from '../representations/widths.ts';

/** Horowitz 2014, 45 nm, picojoules per operation. */
export const HOROWITZ_45NM_PJ = {
  /** 32-bit read from DRAM. */
  dramRead32: 640,
  /** 32-bit read from an 8 KB SRAM (listed for reference; no term of the rule uses it). */
  sramRead32: 5,
  fp32Multiply: 3.7,
  fp32Add: 0.9,
  int8Multiply: 0.2,
  int8Add: 0.03,
} as const;

const T = HOROWITZ_45NM_PJ;

/** Energy of an N×N-bit integer multiply-accumulate, scaled from the 8-bit figures. */
export function integerMacPj(bits: number): number {
  return T.int8Multiply * (bits / 8) ** 2 + T.int8Add * (bits / 8);
}

/**
 * The energy of one inference image. `weightBits`: bits of every param as stored; `macs`: MACs per image;
 * `activationBits`: N of the integer figure (the weights' bits).
 */
export function inferenceEnergy(weightBits: number, macs: number, activationBits: number): InferenceEnergy {
  const weightReadPj = (weightBits / 32) * T.dramRead32;
  const macPj = macs * (T.fp32Multiply + T.fp32Add);
  const intMacPj = macs * integerMacPj(activationBits);
  return { weightReadPj, macPj, totalPj: weightReadPj + macPj, macs, ifActivations: { bits: activationBits, macPj: intMacPj, totalPj: weightReadPj + intMacPj } };
}

/**
 * The energy of one inference image of `model` deployed with `representation`: the params it quantizes at their
 * widths (bitsPerLayer's, else `bits`; a layer at 32 stays float32), the rest at 32 bits.
 */
export function modelEnergy(model: Model, representation: Representation, quantizeBiases: boolean): InferenceEnergy {
  const bits = bitsOf(representation);
  const size = (i: number) => model.params[i].shape.reduce((a, b) => a * b, 1);
  let weightBits = paramCount(model) * 32;
  if (representation.kind !== 'float32') {
    const indices = quantizedIndices(model, quantizeBiases);
    const widths = resolveWidths(representation, indices.map((i) => model.params[i]));
    indices.forEach((i, k) => (weightBits -= size(i) * (32 - (widths[k] ?? 32))));
  }
  return inferenceEnergy(weightBits, macsPerImage(model), bits);
}
