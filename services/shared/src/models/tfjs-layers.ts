/**
 * A TF.js Layers model (the `model.json` and weight shards that `tensorflowjs_converter` writes from a Keras model, or
 * that TF.js's `model.save()` writes) taken apart into a ModelGraph, its ParamSpecs and their float32 values. Pure
 * JavaScript (no TF.js), so the API checks an upload completely before storing it.
 *
 * Errors are ModelImportError with the HTTP status the API answers: 400 when the upload itself is broken (not JSON,
 * a shard missing or of the wrong size), 422 when it is well formed but not a model quantlab can train (an unsupported
 * layer, a reference to a layer or weight that is not there, a weight of the wrong shape, NaN or Inf).
 */
import { nodeInputs, nodeParams, type Activation, type GraphNode, type ModelGraph } from './graph.ts';
import type { ParamSpec } from './param-spec.ts';

export class ModelImportError extends Error {
  constructor(
    readonly status: 400 | 422,
    message: string,
  ) {
    super(message);
  }
}
const broken = (m: string) => new ModelImportError(400, m);
const unusable = (m: string) => new ModelImportError(422, m);

/** The layer classes the import understands (the Keras names; MaxPool2D and AvgPool2D are Keras's aliases). */
export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'Dense',
  'MaxPooling2D',
  'MaxPool2D',
  'AveragePooling2D',
  'AvgPool2D',
  'GlobalAveragePooling2D',
  'GlobalAvgPool2D',
  'Flatten',
  'Reshape',
  'Activation',
  'ReLU',
  'Softmax',
  'Dropout',
  'BatchNormalization',
  'Add',
  'Concatenate',
] as const;
const ACTIVATIONS: readonly Activation[] = ['relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'linear'];

export interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
}
export interface ManifestGroup {
  paths: string[];
  weights: ManifestWeight[];
}
/** The parts of model.json the import reads. */
export interface LayersModelJson {
  modelTopology: unknown;
  weightsManifest: ManifestGroup[];
}

/** The weight bytes: one buffer per shard file (by its manifest path), or every shard concatenated in manifest order. */
export type WeightBytes = { files: ReadonlyMap<string, Uint8Array> } | { concatenated: Uint8Array };

export interface ImportedModel {
  graph: ModelGraph;
  /** In the order of the graph's nodes; `weights` holds their values in the same order. */
  params: ParamSpec[];
  weights: Float32Array[];
  /** The width of the output (the logits). */
  numClasses: number;
  /** BatchNormalization layers folded into the convolution or dense layer before them. */
  folded: string[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const fmt = (shape: readonly number[]) => `[${shape.join(', ')}]`;
/** A shard path as a file name: TF.js writes "./model.weights.bin" in browsers, "weights.bin" elsewhere. */
export const shardName = (path: string) => path.replace(/^(\.\/)+/, '');

/** Parses model.json's text: 400 unless it is a JSON object with a modelTopology and a well-formed weightsManifest. */
export function parseModelJson(text: string): LayersModelJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw broken(`model.json is not JSON: ${(e as Error).message}`);
  }
  return checkModelJson(json);
}

export function checkModelJson(json: unknown): LayersModelJson {
  if (!isObject(json)) throw broken('model.json must be a JSON object');
  if (!isObject(json.modelTopology)) throw broken('model.json has no modelTopology object (a TF.js Layers model, as model.save() or tensorflowjs_converter --input_format keras writes, is expected)');
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw broken('model.json has no weightsManifest array');
  manifest.forEach((g: unknown, i) => {
    if (!isObject(g) || !Array.isArray(g.paths) || !g.paths.every((p) => typeof p === 'string') || !Array.isArray(g.weights)) {
      throw broken(`weightsManifest[${i}] must have paths (file names) and weights`);
    }
    g.weights.forEach((w: unknown, j) => {
      const at = `weightsManifest[${i}].weights[${j}]`;
      if (!isObject(w) || typeof w.name !== 'string' || !Array.isArray(w.shape) || !w.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
        throw broken(`${at} must have a name and a shape of non-negative integers`);
      }
      if (w.dtype !== 'float32') throw unusable(`weight ${w.name} has dtype ${String(w.dtype)}; only float32 weights are supported`);
      if (w.quantization !== undefined) throw unusable(`weight ${w.name} is quantized by the converter; convert without --quantize_* so the weights are float32`);
    });
  });
  return json as unknown as LayersModelJson;
}

/** Every shard file name the manifest names, in manifest order. */
export function shardNames(json: LayersModelJson): string[] {
  return json.weightsManifest.flatMap((g) => g.paths.map(shardName));
}

/** The manifest's weights with their values, read from the shards; 400 when a shard is missing or its size is wrong. */
function readWeights(json: LayersModelJson, bytes: WeightBytes): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  const groups = json.weightsManifest;
  const need = groups.map((g) => g.weights.reduce((s, w) => s + size(w.shape) * 4, 0));
  let buffers: Uint8Array[];
  if ('files' in bytes) {
    const named = new Set(shardNames(json));
    for (const name of bytes.files.keys()) if (!named.has(name)) throw broken(`weight file "${name}" is not a shard named in model.json's weightsManifest (${[...named].join(', ') || 'none'})`);
    buffers = groups.map((g, i) => {
      const parts = g.paths.map((p) => {
        const b = bytes.files.get(shardName(p));
        if (!b) throw broken(`shard "${shardName(p)}" (weightsManifest[${i}].paths) is missing from the upload`);
        return b;
      });
      const total = parts.reduce((s, b) => s + b.length, 0);
      if (total !== need[i]) throw broken(`shard${parts.length > 1 ? 's' : ''} ${g.paths.map((p) => `"${shardName(p)}"`).join(' + ')} ha${parts.length > 1 ? 've' : 's'} ${total} bytes; weightsManifest[${i}] describes ${need[i]} (${g.weights.length} float32 weights)`);
      return concat(parts, total);
    });
  } else {
    const total = need.reduce((a, b) => a + b, 0);
    if (bytes.concatenated.length !== total) {
      throw broken(`the weights have ${bytes.concatenated.length} bytes; the manifest's shards (${shardNames(json).join(', ') || 'none'}) describe ${total}`);
    }
    let at = 0;
    buffers = need.map((n) => bytes.concatenated.subarray(at, (at += n)));
  }
  groups.forEach((g, i) => {
    let at = 0;
    for (const w of g.weights) {
      const n = size(w.shape);
      // A copy: aligned, and independent of the upload's buffer.
      const values = new Float32Array(n);
      new Uint8Array(values.buffer).set(buffers[i].subarray(at, at + n * 4));
      at += n * 4;
      out.set(w.name, { shape: w.shape, values });
    }
  });
  return out;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One layer of the source, whatever the topology: its inputs are other layers' names. */
interface SourceLayer {
  name: string;
  className: string;
  config: Json;
  inputs: string[];
}

/** The layers in order, the input layer's name and shape, and the output layer's name. */
function readTopology(topology: Json): { layers: SourceLayer[]; input: { name: string; shape: number[] }; output: string } {
  // tensorflowjs_converter from older Keras nests the model under model_config.
  const model = isObject(topology.model_config) ? topology.model_config : topology;
  const className = model.class_name;
  const config = model.config;
  if (className === 'Sequential') {
    const list = Array.isArray(config) ? config : isObject(config) && Array.isArray(config.layers) ? config.layers : null;
    if (!list) throw broken('modelTopology: a Sequential model needs config.layers');
    return sequential(list);
  }
  if (className === 'Model' || className === 'Functional') {
    if (!isObject(config) || !Array.isArray(config.layers)) throw broken(`modelTopology: a ${className} model needs config.layers`);
    return functional(config);
  }
  throw unusable(`modelTopology: model class ${JSON.stringify(className)} is not supported (Sequential, Model or Functional)`);
}

function layerOf(raw: unknown, i: number): { name: string; className: string; config: Json } {
  if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) throw broken(`modelTopology: layer ${i} needs class_name and config`);
  const name = typeof raw.name === 'string' ? raw.name : typeof raw.config.name === 'string' ? raw.config.name : `layer_${i}`;
  return { name, className: raw.class_name, config: raw.config };
}

/** [batch, h, w, c] from a layer's config, batch left out; null when the layer does not declare one. */
function declaredInputShape(config: Json): number[] | null {
  const s = config.batch_input_shape ?? config.batch_shape;
  if (Array.isArray(s)) return s.slice(1) as number[];
  if (Array.isArray(config.input_shape)) return config.input_shape as number[];
  return null;
}

function sequential(list: unknown[]): ReturnType<typeof readTopology> {
  const all = list.map(layerOf);
  if (all.length === 0) throw unusable('modelTopology: the Sequential model has no layers');
  const first = all[0];
  const shape = declaredInputShape(first.config);
  if (!shape) throw unusable(`modelTopology: the first layer (${first.name}) declares no input shape (batch_input_shape)`);
  const inputLayer = first.className === 'InputLayer';
  const taken = new Set(all.map((l) => l.name));
  const inputName = inputLayer ? first.name : taken.has('input') ? `input_${taken.size}` : 'input';
  const body = inputLayer ? all.slice(1) : all;
  if (body.length === 0) throw unusable('modelTopology: the Sequential model has an input and no layers');
  const layers = body.map((l, i) => ({ ...l, inputs: [i === 0 ? inputName : body[i - 1].name] }));
  return { layers, input: { name: inputName, shape }, output: layers[layers.length - 1].name };
}

/** The layer names one inbound node reads: Keras 2's [[name, node, tensor, kwargs], ...] or Keras 3's keras_history. */
function inboundNames(node: unknown): string[] {
  if (Array.isArray(node)) return node.map((t) => (Array.isArray(t) && typeof t[0] === 'string' ? t[0] : null)).filter((n): n is string => n !== null);
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObject(v)) {
      const h = isObject(v.config) ? v.config.keras_history : undefined;
      if (Array.isArray(h) && typeof h[0] === 'string') out.push(h[0]);
      else Object.values(v).forEach(walk);
    }
  };
  if (isObject(node)) walk(node.args);
  return out;
}

function functional(config: Json): ReturnType<typeof readTopology> {
  const raw = config.layers as unknown[];
  const ends = (key: 'input_layers' | 'output_layers') => {
    const v = config[key];
    // Keras 3 writes one [name, 0, 0] for a single input or output; Keras 2 a list of them.
    const list = Array.isArray(v) && typeof v[0] === 'string' ? [v] : Array.isArray(v) ? v : [];
    return list.map((e) => (Array.isArray(e) ? String(e[0]) : String(e)));
  };
  const inputs = ends('input_layers');
  const outputs = ends('output_layers');
  if (inputs.length !== 1) throw unusable(`modelTopology: the model has ${inputs.length} inputs; quantlab trains models with one image input`);
  if (outputs.length !== 1) throw unusable(`modelTopology: the model has ${outputs.length} outputs; quantlab trains models with one output (the class scores)`);
  const layers: SourceLayer[] = [];
  let input: { name: string; shape: number[] } | null = null;
  const known = new Set(raw.map((r, i) => layerOf(r, i).name));
  raw.forEach((r, i) => {
    const l = layerOf(r, i);
    const inbound = isObject(r) && Array.isArray(r.inbound_nodes) ? r.inbound_nodes : [];
    if (l.className === 'InputLayer') {
      if (l.name !== inputs[0]) throw unusable(`modelTopology: input layer ${l.name} is not the model's input (${inputs[0]})`);
      const shape = declaredInputShape(l.config);
      if (!shape) throw unusable(`modelTopology: input layer ${l.name} declares no shape (batch_input_shape)`);
      input = { name: l.name, shape };
      return;
    }
    if (inbound.length !== 1) throw unusable(`modelTopology: layer ${l.name} (${l.className}) is called ${inbound.length} times; each layer must be applied exactly once (shared layers are not supported)`);
    const names = inboundNames(inbound[0]);
    for (const n of names) if (!known.has(n)) throw unusable(`modelTopology: layer ${l.name} (${l.className}) reads layer "${n}", which the topology does not define`);
    layers.push({ ...l, inputs: names });
  });
  if (!input) throw unusable(`modelTopology: the model's input layer "${inputs[0]}" is not among its layers`);
  if (!known.has(outputs[0])) throw unusable(`modelTopology: the model's output layer "${outputs[0]}" is not among its layers`);
  return { layers: order(layers, (input as { name: string }).name), input, output: outputs[0] };
}

/** Layers in an order where each comes after what it reads (Keras lists them so; this makes sure, and finds cycles). */
function order(layers: SourceLayer[], inputName: string): SourceLayer[] {
  const done = new Set([inputName]);
  const out: SourceLayer[] = [];
  let pending = layers;
  while (pending.length) {
    const ready = pending.filter((l) => l.inputs.every((i) => done.has(i)));
    if (ready.length === 0) throw unusable(`modelTopology: layers ${pending.map((l) => l.name).join(', ')} read each other in a cycle or read an unconnected layer`);
    for (const l of ready) {
      out.push(l);
      done.add(l.name);
    }
    pending = pending.filter((l) => !done.has(l.name));
  }
  return out;
}

const pair = (v: unknown, what: string, layer: SourceLayer): [number, number] => {
  const p = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? v : null;
  if (!p || !p.every((x) => Number.isInteger(x) && x >= 1)) throw unusable(`layer ${layer.name} (${layer.className}): ${what} must be a positive integer or a pair of them, not ${JSON.stringify(v)}`);
  return p as [number, number];
};

/**
 * Reads a model: its topology into graph nodes (shapes checked layer by layer), its weights from the shards, then
 * BatchNormalization folded where it directly follows a conv or dense layer that nothing else reads (`fold: false`
 * keeps every BatchNorm, for tests that compare the two).
 */
export function importLayersModel(json: LayersModelJson, bytes: WeightBytes, opts: { fold?: boolean } = {}): ImportedModel {
  const values = readWeights(json, bytes);
  const { layers, input, output } = readTopology(json.modelTopology as Json);
  if (input.shape.length !== 3 || !input.shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw unusable(`the model's input shape is ${fmt(input.shape.map((d) => d ?? -1))}; quantlab feeds images, [height, width, channels]`);
  }
  const b = new GraphBuilder(values);
  b.shapes.set(input.name, input.shape);
  for (const l of layers) b.add(l);
  let out = b.resolve(output);
  // A final softmax becomes outputActivation: training works on the logits before it.
  let outputActivation: 'softmax' | undefined;
  const last = b.nodes.find((n) => n.name === out)!;
  if (last && 'activation' in last && last.activation === 'softmax' && b.readers(out) === 0) {
    outputActivation = 'softmax';
    if (last.op === 'activation') {
      b.nodes.splice(b.nodes.indexOf(last), 1);
      out = last.input;
    } else delete (last as { activation?: Activation }).activation;
  }
  const outShape = b.shapes.get(out)!;
  if (outShape.length !== 1) throw unusable(`the model's output has shape ${fmt(outShape)}; expected [classes] (end with Dense)`);
  const graph: ModelGraph = { input: { name: input.name, shape: input.shape as [number, number, number] }, nodes: b.nodes, output: out, ...(outputActivation ? { outputActivation } : {}) };
  // Checked before folding too: folding turns an infinite moving variance into a zero scale, which looks finite.
  const checkFinite = () => {
    const { params, weights } = b.collect(graph);
    weights.forEach((w, i) => {
      const bad = w.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw unusable(`weight ${b.sourceName(params[i].name)} holds ${w[bad]} at element ${bad}; every weight must be finite`);
    });
    return { params, weights };
  };
  checkFinite();
  for (const n of graph.nodes) {
    if (n.op !== 'batchNorm') continue;
    const variance = b.values(n.variance);
    const bad = variance.findIndex((v) => v < 0);
    if (bad >= 0) throw unusable(`weight ${b.sourceName(n.variance)} holds ${variance[bad]} at element ${bad}; a moving variance cannot be negative`);
  }
  const folded = opts.fold === false ? [] : b.fold(graph);
  const { params, weights } = checkFinite();
  return { graph, params, weights, numClasses: outShape[0], folded };
}

/** Builds the graph layer by layer, tracking each tensor's shape (without the batch dimension). */
class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly shapes = new Map<string, number[]>();
  /** Layers that produce no node (a linear Activation) read as the tensor they pass on. */
  private readonly alias = new Map<string, string>();
  /** param name -> its spec and values (a manifest weight, or one made by folding or for a BatchNorm without scale/center). */
  private readonly param = new Map<string, { spec: ParamSpec; values: Float32Array; source: string }>();

  constructor(private readonly weights: Map<string, { shape: number[]; values: Float32Array }>) {}

  resolve(name: string): string {
    return this.alias.get(name) ?? name;
  }

  readers(name: string): number {
    return this.nodes.reduce((s, n) => s + nodeInputs(n).filter((i) => i === name).length, 0);
  }

  values(param: string): Float32Array {
    return this.param.get(param)!.values;
  }

  sourceName(param: string): string {
    return this.param.get(param)?.source ?? param;
  }

  /** A layer's weight by its Keras name (layer/suffix), also under a model scope (model/layer/suffix). */
  private weight(layer: SourceLayer, suffix: string, want: number[], spec: Omit<ParamSpec, 'name' | 'shape'>, as = suffix): string {
    const key = `${layer.name}/${suffix}`;
    let found = this.weights.get(key);
    let source = key;
    if (!found) {
      const scoped = [...this.weights.keys()].filter((k) => k.endsWith(`/${key}`));
      if (scoped.length === 1) {
        source = scoped[0];
        found = this.weights.get(source);
      }
    }
    if (!found) throw unusable(`layer ${layer.name} (${layer.className}) needs weight ${key}, which weightsManifest does not list`);
    if (found.shape.join() !== want.join()) throw unusable(`weight ${source} has shape ${fmt(found.shape)}; layer ${layer.name} (${layer.className}) on its input needs ${fmt(want)}`);
    const name = `${layer.name}/${as}`;
    this.param.set(name, { spec: { name, shape: want, ...spec }, values: found.values, source });
    return name;
  }

  private constant(name: string, shape: number[], value: number, spec: Omit<ParamSpec, 'name' | 'shape'>): string {
    this.param.set(name, { spec: { name, shape, ...spec }, values: new Float32Array(size(shape)).fill(value), source: name });
    return name;
  }

  private activation(l: SourceLayer, v: unknown): Activation | undefined {
    const a = v === undefined || v === null ? 'linear' : isObject(v) && typeof v.class_name === 'string' ? v.class_name.toLowerCase() : v;
    if (typeof a !== 'string' || !(ACTIVATIONS as readonly string[]).includes(a)) {
      throw unusable(`layer ${l.name} (${l.className}): activation ${JSON.stringify(v)} is not supported (${ACTIVATIONS.join(', ')})`);
    }
    return a === 'linear' ? undefined : (a as Activation);
  }

  private spatial(l: SourceLayer, inShape: number[]): [number, number, number] {
    if (l.config.data_format !== undefined && l.config.data_format !== null && l.config.data_format !== 'channels_last') {
      throw unusable(`layer ${l.name} (${l.className}): data_format ${String(l.config.data_format)} is not supported (channels_last only)`);
    }
    if (inShape.length !== 3) throw unusable(`layer ${l.name} (${l.className}) needs an image input [height, width, channels], not ${fmt(inShape)}`);
    return inShape as [number, number, number];
  }

  private padding(l: SourceLayer): 'same' | 'valid' {
    const p = l.config.padding ?? 'valid';
    if (p !== 'same' && p !== 'valid') throw unusable(`layer ${l.name} (${l.className}): padding ${JSON.stringify(p)} is not supported (same, valid)`);
    return p;
  }

  /** TF's output size: 'same' ceil(n / s), 'valid' ceil((n - (k - 1) d) / s). */
  private outSize(l: SourceLayer, n: number, k: number, s: number, d: number, padding: 'same' | 'valid'): number {
    const o = padding === 'same' ? Math.ceil(n / s) : Math.ceil((n - (k - 1) * d) / s);
    if (o < 1) throw unusable(`layer ${l.name} (${l.className}): a window of ${k} does not fit an input of ${n} with valid padding`);
    return o;
  }

  add(l: SourceLayer): void {
    const ins = l.inputs.map((i) => this.resolve(i));
    const shapes = ins.map((i) => this.shapes.get(i)!);
    const c = l.config;
    const single = () => {
      if (ins.length !== 1) throw unusable(`layer ${l.name} (${l.className}) must read one tensor, not ${ins.length}`);
      return { input: ins[0], shape: shapes[0] };
    };
    const push = (node: GraphNode, shape: number[]) => {
      this.nodes.push(node);
      this.shapes.set(node.name, shape);
    };
    switch (l.className) {
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const { input, shape } = single();
        const [h, w, cin] = this.spatial(l, shape);
        const depthwise = l.className === 'DepthwiseConv2D';
        const [kh, kw] = pair(c.kernel_size, 'kernel_size', l);
        const strides = pair(c.strides ?? 1, 'strides', l);
        const dilations = pair(c.dilation_rate ?? 1, 'dilation_rate', l);
        if ((c.groups ?? 1) !== 1) throw unusable(`layer ${l.name} (${l.className}): groups ${String(c.groups)} is not supported`);
        if ((strides[0] > 1 || strides[1] > 1) && (dilations[0] > 1 || dilations[1] > 1)) throw unusable(`layer ${l.name} (${l.className}): strides and dilation_rate both above 1 are not supported`);
        const padding = this.padding(l);
        const mult = depthwise ? Number(c.depth_multiplier ?? 1) : 0;
        const filters = depthwise ? cin * mult : Number(c.filters);
        if (!Number.isInteger(filters) || filters < 1) throw unusable(`layer ${l.name} (${l.className}): ${depthwise ? 'depth_multiplier' : 'filters'} must be a positive integer`);
        const fanIn = depthwise ? kh * kw : kh * kw * cin;
        const kernel = depthwise
          ? this.weight(l, 'depthwise_kernel', [kh, kw, cin, mult], { kind: 'kernel', fanIn }, 'kernel')
          : this.weight(l, 'kernel', [kh, kw, cin, filters], { kind: 'kernel', fanIn });
        const bias = c.use_bias === false ? undefined : this.weight(l, 'bias', [filters], { kind: 'bias', fanIn });
        const activation = this.activation(l, c.activation);
        push(
          { op: 'conv2d', name: l.name, input, kernel, ...(bias ? { bias } : {}), strides, padding, ...(dilations[0] > 1 || dilations[1] > 1 ? { dilations } : {}), ...(depthwise ? { depthwise } : {}), ...(activation ? { activation } : {}) },
          [this.outSize(l, h, kh, strides[0], dilations[0], padding), this.outSize(l, w, kw, strides[1], dilations[1], padding), filters],
        );
        return;
      }
      case 'Dense': {
        const { input, shape } = single();
        if (shape.length !== 1) throw unusable(`layer ${l.name} (Dense) reads a tensor of shape ${fmt(shape)}; put a Flatten (or GlobalAveragePooling2D) before it`);
        const units = Number(c.units);
        const kernel = this.weight(l, 'kernel', [shape[0], units], { kind: 'kernel', fanIn: shape[0] });
        const bias = c.use_bias === false ? undefined : this.weight(l, 'bias', [units], { kind: 'bias', fanIn: shape[0] });
        const activation = this.activation(l, c.activation);
        push({ op: 'dense', name: l.name, input, kernel, ...(bias ? { bias } : {}), ...(activation ? { activation } : {}) }, [units]);
        return;
      }
      case 'MaxPooling2D':
      case 'MaxPool2D':
      case 'AveragePooling2D':
      case 'AvgPool2D': {
        const { input, shape } = single();
        const [h, w, ch] = this.spatial(l, shape);
        const poolSize = pair(c.pool_size ?? 2, 'pool_size', l);
        const strides = pair(c.strides ?? poolSize, 'strides', l);
        const padding = this.padding(l);
        const op = l.className.startsWith('Max') ? 'maxPool' : 'avgPool';
        push({ op, name: l.name, input, size: poolSize, strides, padding }, [this.outSize(l, h, poolSize[0], strides[0], 1, padding), this.outSize(l, w, poolSize[1], strides[1], 1, padding), ch]);
        return;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalAvgPool2D': {
        const { input, shape } = single();
        const ch = this.spatial(l, shape)[2];
        if (c.keepdims === true) {
          push({ op: 'globalAvgPool', name: `${l.name}/pool`, input }, [ch]);
          push({ op: 'reshape', name: l.name, input: `${l.name}/pool`, shape: [1, 1, ch] }, [1, 1, ch]);
        } else push({ op: 'globalAvgPool', name: l.name, input }, [ch]);
        return;
      }
      case 'Flatten': {
        const { input, shape } = single();
        push({ op: 'flatten', name: l.name, input }, [size(shape)]);
        return;
      }
      case 'Reshape': {
        const { input, shape } = single();
        // TF.js saves the free dimension (-1) as null.
        const target = Array.isArray(c.target_shape) ? (c.target_shape as (number | null)[]).map((d) => d ?? -1) : null;
        if (!target || !target.every((d) => Number.isInteger(d) && (d > 0 || d === -1)) || target.filter((d) => d === -1).length > 1) {
          throw unusable(`layer ${l.name} (Reshape): target_shape ${JSON.stringify(c.target_shape)} must be positive integers and at most one -1`);
        }
        const known = size(target.filter((d) => d !== -1));
        const resolved = target.map((d) => (d === -1 ? size(shape) / known : d));
        if (size(resolved) !== size(shape) || !resolved.every(Number.isInteger)) throw unusable(`layer ${l.name} (Reshape): ${fmt(shape)} cannot be reshaped to ${fmt(target)}`);
        if (resolved.length !== 1 && resolved.length !== 3) throw unusable(`layer ${l.name} (Reshape): target shape ${fmt(resolved)} must be [n] or [height, width, channels]`);
        push({ op: 'reshape', name: l.name, input, shape: resolved }, resolved);
        return;
      }
      case 'Activation':
      case 'ReLU':
      case 'Softmax': {
        const { input, shape } = single();
        let a: Activation | undefined;
        if (l.className === 'Activation') a = this.activation(l, c.activation);
        else if (l.className === 'Softmax') {
          if (c.axis !== undefined && c.axis !== -1 && c.axis !== shape.length) throw unusable(`layer ${l.name} (Softmax): axis ${String(c.axis)} is not supported (the last axis only)`);
          a = 'softmax';
        } else {
          const max = c.max_value ?? null;
          if ((c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0 || (max !== null && max !== 6)) {
            throw unusable(`layer ${l.name} (ReLU): only max_value none or 6 with negative_slope 0 and threshold 0 is supported`);
          }
          a = max === 6 ? 'relu6' : 'relu';
        }
        if (!a) this.alias.set(l.name, input);
        else push({ op: 'activation', name: l.name, input, activation: a }, shape);
        return;
      }
      case 'Dropout': {
        const { input, shape } = single();
        const rate = Number(c.rate ?? 0);
        if (!(rate >= 0 && rate < 1)) throw unusable(`layer ${l.name} (Dropout): rate ${String(c.rate)} must be in [0, 1)`);
        if (c.noise_shape !== undefined && c.noise_shape !== null) throw unusable(`layer ${l.name} (Dropout): noise_shape is not supported`);
        push({ op: 'dropout', name: l.name, input, rate }, shape);
        return;
      }
      case 'BatchNormalization': {
        const { input, shape } = single();
        const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : (c.axis ?? -1);
        if (axis !== -1 && axis !== shape.length) throw unusable(`layer ${l.name} (BatchNormalization): axis ${JSON.stringify(c.axis)} is not supported (the channel axis, -1, only)`);
        const ch = shape[shape.length - 1];
        const epsilon = Number(c.epsilon ?? 1e-3);
        if (!(epsilon > 0)) throw unusable(`layer ${l.name} (BatchNormalization): epsilon must be positive`);
        const gamma = c.scale === false ? this.constant(`${l.name}/gamma`, [ch], 1, { kind: 'scale', fanIn: ch, init: 1 }) : this.weight(l, 'gamma', [ch], { kind: 'scale', fanIn: ch, init: 1 });
        const beta = c.center === false ? this.constant(`${l.name}/beta`, [ch], 0, { kind: 'bias', fanIn: ch }) : this.weight(l, 'beta', [ch], { kind: 'bias', fanIn: ch });
        const mean = this.weight(l, 'moving_mean', [ch], { kind: 'state', fanIn: ch }, 'mean');
        const variance = this.weight(l, 'moving_variance', [ch], { kind: 'state', fanIn: ch, init: 1 }, 'variance');
        push({ op: 'batchNorm', name: l.name, input, gamma, beta, mean, variance, epsilon }, shape);
        return;
      }
      case 'Add':
      case 'Concatenate': {
        if (ins.length < 2) throw unusable(`layer ${l.name} (${l.className}) must read at least two tensors`);
        if (l.className === 'Add') {
          if (!shapes.every((s) => s.join() === shapes[0].join())) throw unusable(`layer ${l.name} (Add) adds tensors of different shapes: ${shapes.map(fmt).join(', ')}`);
          push({ op: 'add', name: l.name, inputs: ins }, shapes[0]);
          return;
        }
        const rank = shapes[0].length;
        if (c.axis !== undefined && c.axis !== -1 && c.axis !== rank) throw unusable(`layer ${l.name} (Concatenate): axis ${String(c.axis)} is not supported (the last axis only)`);
        if (!shapes.every((s) => s.length === rank && s.slice(0, -1).join() === shapes[0].slice(0, -1).join())) throw unusable(`layer ${l.name} (Concatenate): shapes ${shapes.map(fmt).join(', ')} differ before the last axis`);
        push({ op: 'concat', name: l.name, inputs: ins }, [...shapes[0].slice(0, -1), shapes.reduce((s, x) => s + x[rank - 1], 0)]);
        return;
      }
      case 'InputLayer':
        throw unusable(`layer ${l.name} (InputLayer): only the model's first layer may be an input`);
      default:
        throw unusable(`layer ${l.name} has class ${l.className}, which is not supported (supported: ${SUPPORTED_LAYERS.join(', ')})`);
    }
  }

  /**
   * Folds each BatchNorm that directly follows a linear conv or dense layer which nothing else reads: scale s =
   * gamma / sqrt(variance + eps) multiplies the kernel's output channels, and the bias becomes (bias - mean) s + beta.
   * Computed in double precision. Returns the folded BatchNorm layers' names.
   */
  fold(graph: ModelGraph): string[] {
    const folded: string[] = [];
    for (const bn of [...graph.nodes]) {
      if (bn.op !== 'batchNorm') continue;
      const prev = graph.nodes.find((n) => n.name === bn.input);
      if (!prev || (prev.op !== 'conv2d' && prev.op !== 'dense') || prev.activation || this.readers(prev.name) !== 1 || graph.output === prev.name) continue;
      const v = (n: string) => this.param.get(n)!.values;
      const [gamma, beta, mean, variance] = [v(bn.gamma), v(bn.beta), v(bn.mean), v(bn.variance)];
      const ch = gamma.length;
      const scale = Float64Array.from(gamma, (g, i) => g / Math.sqrt(variance[i] + bn.epsilon));
      const kernel = this.param.get(prev.kernel)!;
      const k = Float32Array.from(kernel.values, (x, i) => x * scale[i % ch]);
      this.param.set(prev.kernel, { ...kernel, values: k });
      const oldBias = prev.bias ? v(prev.bias) : null;
      const biasName = prev.bias ?? `${prev.name}/bias`;
      const bias = Float32Array.from({ length: ch }, (_, i) => ((oldBias ? oldBias[i] : 0) - mean[i]) * scale[i] + beta[i]);
      this.param.set(biasName, { spec: { name: biasName, shape: [ch], kind: 'bias', fanIn: kernel.spec.fanIn }, values: bias, source: biasName });
      prev.bias = biasName;
      // The conv or dense layer now computes what the BatchNorm did: its readers read the layer instead.
      graph.nodes.splice(graph.nodes.indexOf(bn), 1);
      for (const n of graph.nodes) {
        if ('inputs' in n) n.inputs = n.inputs.map((i) => (i === bn.name ? prev.name : i));
        else if (n.input === bn.name) n.input = prev.name;
      }
      if (graph.output === bn.name) graph.output = prev.name;
      for (const p of [bn.gamma, bn.beta, bn.mean, bn.variance]) this.param.delete(p);
      folded.push(bn.name);
    }
    return folded;
  }

  /** The params the graph's nodes use, in node order (conv and dense: kernel, bias; BatchNorm: gamma, beta, mean, variance). */
  collect(graph: ModelGraph): { params: ParamSpec[]; weights: Float32Array[] } {
    const params: ParamSpec[] = [];
    const weights: Float32Array[] = [];
    for (const n of graph.nodes) {
      for (const name of nodeParams(n)) {
        const p = this.param.get(name)!;
        params.push(p.spec);
        weights.push(p.values);
      }
    }
    return { params, weights };
  }
}
