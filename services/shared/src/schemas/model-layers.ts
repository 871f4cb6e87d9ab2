// Kept free of imports: the API validates per-layer widths with it and never loads TF.js (ml's models own the params;
// test/representations.bits-per-layer.test.ts holds the two to the same names).

const resnetStage = (s: number) => [1, 2, 3].flatMap((b) => [`stage${s}/block${b}/conv1`, `stage${s}/block${b}/conv2`]);

/**
 * The weight layers of each built-in model, in the order of its params: a layer is a kernel's name without
 * `/kernel`. `bitsPerLayer` names these (or lists one width each, in this order).
 */
export const MODEL_LAYERS: Readonly<Record<'cnn5' | 'mlp' | 'resnet20' | 'vgg-small', readonly string[]>> = {
  cnn5: ['conv1', 'conv2', 'conv3', 'fc1', 'fc2'],
  mlp: ['fc1', 'fc2'],
  resnet20: ['conv1', ...resnetStage(1), ...resnetStage(2), ...resnetStage(3), 'fc'],
  'vgg-small': ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'conv6', 'fc'],
};

/**
 * A built-in model's layers, or undefined for an uploaded model (`mdl_…`): per-layer widths, sensitivity sweeps and
 * allocation name layers at submission, and an upload's layers are known only from its stored graph.
 */
export function builtInLayers(model: string): readonly string[] | undefined {
  return Object.hasOwn(MODEL_LAYERS, model) ? MODEL_LAYERS[model as keyof typeof MODEL_LAYERS] : undefined;
}

/** The layer a param belongs to: its name up to the last `/` (`conv1/kernel` → `conv1`). */
export function layerOfParam(param: string): string {
  const at = param.lastIndexOf('/');
  return at < 0 ? param : param.slice(0, at);
}

/** The width of every layer of `layers` under a bitsPerLayer (32 keeps a layer in float32); `bits` for the unnamed. */
export function layerWidths(bits: number, bitsPerLayer: Readonly<Record<string, number>> | readonly number[] | undefined, layers: readonly string[]): number[] {
  if (bitsPerLayer === undefined) return layers.map(() => bits);
  if (Array.isArray(bitsPerLayer)) return layers.map((_, i) => (bitsPerLayer as readonly number[])[i] ?? bits);
  const byName = bitsPerLayer as Readonly<Record<string, number>>;
  return layers.map((l) => (Object.hasOwn(byName, l) ? byName[l] : bits));
}

/**
 * Why a bitsPerLayer does not fit a model's layers (an unknown name, or a list of the wrong length), or null.
 * `path` is where in bitsPerLayer the problem is.
 */
export function bitsPerLayerIssue(
  bitsPerLayer: Readonly<Record<string, number>> | readonly number[],
  model: string,
  layers: readonly string[],
): { path: (string | number)[]; message: string } | null {
  if (Array.isArray(bitsPerLayer)) {
    if (bitsPerLayer.length === layers.length) return null;
    return { path: [], message: `${model} has ${layers.length} layers (${layers.join(', ')}); bitsPerLayer lists ${bitsPerLayer.length} widths` };
  }
  for (const name of Object.keys(bitsPerLayer)) {
    if (!layers.includes(name)) return { path: [name], message: `${model} has no layer "${name}" (its layers: ${layers.join(', ')})` };
  }
  return null;
}
