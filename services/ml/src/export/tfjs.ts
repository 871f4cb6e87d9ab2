/**
 * TF.js Layers export: one zip (fflate) holding `model.json` (a functional model's topology and its weights manifest)
 * and one weight shard `weights.bin` with the decoded float32 weights, which `tf.loadLayersModel` reads. Written as
 * JSON without loading TF.js. Layer names are the graph's node names with anything but letters, digits, `_`, `.`, `-`
 * replaced by `_`; a channel zero padding (ResNet's shortcut) becomes a fixed 1x1 Conv2D that copies the channels.
 */
import { strToU8, zipSync } from 'fflate';
import type { Activation, GraphNode } from '../models/graph.ts';
import { ExportError, ZIP_MTIME, type ExportModel } from './model.ts';

/** The TF.js version whose Layers format this writes (the project's TF.js). */
const TFJS_VERSION = '4.22.0';
export const TFJS_SHARD = 'weights.bin';

interface LayerJson {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, Record<string, never>][][];
}

interface WeightEntry {
  name: string;
  shape: number[];
  values: Float32Array;
}

const KERAS_ACTIVATION: Record<Activation, string> = { relu: 'relu', relu6: 'relu6', sigmoid: 'sigmoid', tanh: 'tanh', softmax: 'softmax', linear: 'linear' };

/** model.json's object and the shard's bytes (also what a custom IOHandler hands `tf.loadLayersModel`). */
export function tfjsArtifacts(m: ExportModel): { modelJson: Record<string, unknown>; weights: Uint8Array } {
  const { graph } = m;
  const layerName = new Map<string, string>();
  const taken = new Set<string>();
  const nameFor = (node: string) => {
    const base = node.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]/, 'l');
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    layerName.set(node, name);
    return name;
  };
  const layers: LayerJson[] = [];
  const weights: WeightEntry[] = [];
  const param = (name: string) => m.layers.get(name)!;
  const push = (name: string, className: string, config: Record<string, unknown>, inputs: string[]) => {
    layers.push({ class_name: className, name, config: { name, trainable: true, dtype: 'float32', ...config }, inbound_nodes: inputs.length ? [inputs.map((i) => [i, 0, 0, {}])] : [] });
  };
  const addWeight = (layer: string, kind: string, shape: number[], values: Float32Array) => weights.push({ name: `${layer}/${kind}`, shape, values });

  const inputName = nameFor(graph.input.name);
  push(inputName, 'InputLayer', { batch_input_shape: [null, ...graph.input.shape], sparse: false }, []);

  for (const node of graph.nodes as GraphNode[]) {
    const name = nameFor(node.name);
    const inputs = ('inputs' in node ? node.inputs : [node.input]).map((i) => layerName.get(i)!);
    switch (node.op) {
      case 'conv2d': {
        const k = param(node.kernel);
        const common = { kernel_size: k.shape.slice(0, 2), strides: node.strides, padding: node.padding, data_format: 'channels_last', dilation_rate: node.dilations ?? [1, 1], activation: KERAS_ACTIVATION[node.activation ?? 'linear'], use_bias: !!node.bias };
        if (node.depthwise) push(name, 'DepthwiseConv2D', { ...common, depth_multiplier: k.shape[3] }, inputs);
        else push(name, 'Conv2D', { ...common, filters: k.shape[3] }, inputs);
        addWeight(name, node.depthwise ? 'depthwise_kernel' : 'kernel', k.shape, k.values);
        if (node.bias) addWeight(name, 'bias', param(node.bias).shape, param(node.bias).values);
        break;
      }
      case 'dense': {
        const k = param(node.kernel);
        push(name, 'Dense', { units: k.shape[1], activation: KERAS_ACTIVATION[node.activation ?? 'linear'], use_bias: !!node.bias }, inputs);
        addWeight(name, 'kernel', k.shape, k.values);
        if (node.bias) addWeight(name, 'bias', param(node.bias).shape, param(node.bias).values);
        break;
      }
      case 'batchNorm': {
        push(name, 'BatchNormalization', { axis: -1, epsilon: node.epsilon, momentum: 0.99, center: true, scale: true }, inputs);
        const parts: [string, string][] = [['gamma', node.gamma], ['beta', node.beta], ['moving_mean', node.mean], ['moving_variance', node.variance]];
        for (const [kind, p] of parts) addWeight(name, kind, [param(p).values.length], param(p).values);
        break;
      }
      case 'activation':
        push(name, 'Activation', { activation: KERAS_ACTIVATION[node.activation] }, inputs);
        break;
      case 'maxPool':
      case 'avgPool':
        push(name, node.op === 'maxPool' ? 'MaxPooling2D' : 'AveragePooling2D', { pool_size: node.size, strides: node.strides, padding: node.padding, data_format: 'channels_last' }, inputs);
        break;
      case 'globalAvgPool':
        push(name, 'GlobalAveragePooling2D', { data_format: 'channels_last' }, inputs);
        break;
      case 'flatten':
        push(name, 'Flatten', {}, inputs);
        break;
      case 'reshape':
        push(name, 'Reshape', { target_shape: node.shape }, inputs);
        break;
      case 'add':
        push(name, 'Add', {}, inputs);
        break;
      case 'concat':
        push(name, 'Concatenate', { axis: -1 }, inputs);
        break;
      case 'dropout':
        push(name, 'Dropout', { rate: node.rate }, inputs);
        break;
      case 'padChannels': {
        // No Layers class pads channels: a 1x1 convolution whose kernel is 1 from input channel c to output channel
        // before + c and 0 elsewhere computes it exactly (x * 1 plus zeros).
        const shape = m.shapes.get(node.input)!;
        if (shape.length !== 3) throw new ExportError(`node ${node.name}: TF.js export pads the channels of images only`);
        const cin = shape[2];
        const cout = cin + node.before + node.after;
        const kernel = new Float32Array(cin * cout);
        for (let c = 0; c < cin; c++) kernel[c * cout + node.before + c] = 1;
        push(name, 'Conv2D', { filters: cout, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: false, trainable: false }, inputs);
        addWeight(name, 'kernel', [1, 1, cin, cout], kernel);
        break;
      }
    }
  }
  let output = layerName.get(graph.output)!;
  if (graph.outputActivation === 'softmax') {
    const name = nameFor('softmax');
    push(name, 'Activation', { activation: 'softmax' }, [output]);
    output = name;
  }

  const total = weights.reduce((s, w) => s + w.values.length, 0);
  const shard = new Float32Array(total);
  let at = 0;
  for (const w of weights) {
    shard.set(w.values, at);
    at += w.values.length;
  }
  const meta = m.artifact.meta;
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${TFJS_VERSION}`,
    convertedBy: 'quantlab export',
    modelTopology: {
      class_name: 'Model',
      config: { name: typeof meta.model === 'string' ? meta.model : 'model', layers, input_layers: [[inputName, 0, 0]], output_layers: [[output, 0, 0]] },
      keras_version: `tfjs-layers ${TFJS_VERSION}`,
      backend: 'tensor_flow.js',
    },
    weightsManifest: [{ paths: [TFJS_SHARD], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
    userDefinedMetadata: { quantlab: { representation: m.artifact.representation, model: meta.model, dataset: meta.dataset, inputShape: meta.inputShape, normalization: meta.normalization, testLimit: meta.testLimit, testAccuracy: meta.testAccuracy } },
  };
  return { modelJson, weights: new Uint8Array(shard.buffer) };
}

/** The zip: model.json and weights.bin. */
export function toTfjsZip(m: ExportModel): Uint8Array {
  const { modelJson, weights } = tfjsArtifacts(m);
  return zipSync({ 'model.json': strToU8(JSON.stringify(modelJson)), [TFJS_SHARD]: weights }, { level: 6, mtime: ZIP_MTIME });
}
