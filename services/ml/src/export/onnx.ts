/**
 * ONNX (opset 13) export of an artifact's model, encoded with onnx-proto (protobufjs code generated from the
 * official onnx.proto). Weights keep their compact form inside the file and are decoded by the graph itself:
 * - fixed point: the signed codes as an int8 (≤ 8 bits) or int32 initializer, DequantizeLinear with the step as
 *   scale (a scalar, or one per output channel with `axis`) and zero point 0;
 * - dictionary: the indices as uint8 (≤ 256 entries) or uint16, Cast to int32, Gather from the float codebook, Mul by
 *   the scale (a scalar, or one per output channel broadcast along that axis). The indices keep the weight's shape,
 *   so no Reshape is needed except for depthwise kernels;
 * - float32 layers (biases, BatchNorm, every weight of a float32 run) as float initializers.
 * The input is NHWC like the training data ([batch, h, w, c], normalized as in training: see the metadata); the
 * graph transposes to NCHW for the spatial ops and back before a flatten. The output is the logits, or the
 * probabilities where the model ended in a softmax (`outputActivation`).
 */
import onnxProto from 'onnx-proto';
import type { DecodedLayer } from '../artifact/index.ts';
import type { Activation } from '../models/graph.ts';
import type { ExportModel } from './model.ts';

const { onnx } = onnxProto;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;
const DT = onnx.TensorProto.DataType;
const ATTR = onnx.AttributeProto.AttributeType;

export const ONNX_OPSET = 13;
/** The IR version that opset 13 came with (ONNX 1.8). */
const IR_VERSION = 7;

type Attr = number | number[] | string;
type Layout = 'nhwc' | 'nchw' | 'flat';
interface Value {
  name: string;
  layout: Layout;
}

/** Little-endian bytes of a typed array (ONNX raw_data is little-endian; so is every platform Node runs on). */
const raw = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Values of a row-major tensor with its axes permuted: out has shape perm.map(i => shape[i]). */
export function permute<T extends ArrayLike<number> & { length: number }>(src: T, shape: readonly number[], perm: readonly number[], out: { [i: number]: number; length: number }): void {
  const rank = shape.length;
  const outShape = perm.map((i) => shape[i]);
  const srcStride = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    srcStride[i] = s;
    s *= shape[i];
  }
  const stride = perm.map((i) => srcStride[i]);
  const idx = new Array<number>(rank).fill(0);
  let from = 0;
  for (let o = 0; o < src.length; o++) {
    out[o] = src[from];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      from += stride[d];
      if (idx[d] < outShape[d]) break;
      from -= stride[d] * outShape[d];
      idx[d] = 0;
    }
  }
}

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly taken = new Set<string>();

  /** A fresh tensor name based on `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.taken.has(name); i++) name = `${base}_${i}`;
    this.taken.add(name);
    return name;
  }

  init(base: string, dataType: number, dims: readonly number[], data: ArrayBufferView): string {
    const name = this.fresh(base);
    this.initializers.push(onnx.TensorProto.create({ name, dataType, dims: [...dims], rawData: raw(data) }));
    return name;
  }

  op(opType: string, inputs: string[], base: string, attrs: Record<string, Attr> = {}): string {
    const output = this.fresh(base);
    const attribute = Object.entries(attrs).map(([name, v]) =>
      typeof v === 'string'
        ? onnx.AttributeProto.create({ name, type: ATTR.STRING, s: new TextEncoder().encode(v) })
        : Array.isArray(v)
          ? onnx.AttributeProto.create({ name, type: ATTR.INTS, ints: v })
          : Number.isInteger(v)
            ? onnx.AttributeProto.create({ name, type: ATTR.INT, i: v })
            : onnx.AttributeProto.create({ name, type: ATTR.FLOAT, f: v }),
    );
    this.nodes.push(onnx.NodeProto.create({ name: output, opType, input: inputs, output: [output], attribute }));
    return output;
  }
}

type Use = 'conv' | 'depthwise' | 'dense' | 'other';

/** How a param is laid out for its ONNX op: an axis permutation of the stored shape, then possibly a reshape. */
interface Placement {
  perm: number[];
  reshape?: number[];
}

const identity = (rank: number) => Array.from({ length: rank }, (_, i) => i);

function placement(layer: DecodedLayer, use: Use): Placement {
  const s = layer.shape;
  if (use === 'conv') return { perm: [3, 2, 0, 1] }; // [kh, kw, cin, cout] -> [cout, cin, kh, kw]
  if (use === 'dense') return { perm: [1, 0] }; // [in, out] -> [out, in]
  // [kh, kw, cin, mult] -> [cin, mult, kh, kw] -> [cin * mult, 1, kh, kw] (output channel c * mult + m, group = cin)
  if (use === 'depthwise') return { perm: [2, 3, 0, 1], reshape: [s[2] * s[3], 1, s[0], s[1]] };
  return { perm: identity(s.length) };
}

/** Builds the float tensor of a param, decoding its compact form inside the graph. */
function weight(b: GraphBuilder, m: ExportModel, name: string, use: Use, codebooks: Map<number, string>): string {
  const layer = m.layers.get(name)!;
  const { perm, reshape } = placement(layer, use);
  const dims = perm.map((i) => layer.shape[i]);
  const finalDims = reshape ?? dims;
  const n = layer.values.length;
  if (layer.encoding === 'float32' || !layer.codes) {
    const values = new Float32Array(n);
    permute(layer.values, layer.shape, perm, values);
    return b.init(name, DT.FLOAT, finalDims, values);
  }
  // Scales repeat along the stored shape's last axis (value i uses scales[i mod S]); after the permutation that axis is here:
  const axis = perm.indexOf(layer.shape.length - 1);
  const perChannel = layer.scales.length > 1;
  const scaleDims = perChannel ? [layer.scales.length] : [];
  const scales = Float32Array.from(layer.scales);
  let decoded: string;
  if (layer.encoding === 'fixed') {
    const narrow = layer.bits <= 8;
    const codes = narrow ? new Int8Array(n) : new Int32Array(n);
    permute(layer.codes, layer.shape, perm, codes);
    const codesName = b.init(`${name}/codes`, narrow ? DT.INT8 : DT.INT32, dims, codes);
    const scale = b.init(`${name}/step`, DT.FLOAT, scaleDims, scales);
    const zeros = narrow ? new Int8Array(scales.length) : new Int32Array(scales.length);
    const zero = b.init(`${name}/zero_point`, narrow ? DT.INT8 : DT.INT32, scaleDims, zeros);
    decoded = b.op('DequantizeLinear', [codesName, scale, zero], `${name}/dequantized`, perChannel ? { axis } : {});
  } else {
    const d = layer.dictionary!;
    const entries = m.artifact.dictionaries[d];
    if (!codebooks.has(d)) codebooks.set(d, b.init(`dictionary${d}`, DT.FLOAT, [entries.length], entries));
    const wide = entries.length > 256;
    const indices = wide ? new Uint16Array(n) : new Uint8Array(n);
    permute(layer.codes, layer.shape, perm, indices);
    const idx = b.init(`${name}/indices`, wide ? DT.UINT16 : DT.UINT8, dims, indices);
    const cast = b.op('Cast', [idx], `${name}/indices_int32`, { to: DT.INT32 });
    const gathered = b.op('Gather', [codebooks.get(d)!, cast], `${name}/entries`, { axis: 0 });
    const scale = b.init(`${name}/scale`, DT.FLOAT, perChannel ? dims.map((v, i) => (i === axis ? v : 1)) : [], scales);
    decoded = b.op('Mul', [gathered, scale], `${name}/decoded`);
  }
  if (!reshape) return decoded;
  return b.op('Reshape', [decoded, b.init(`${name}/shape`, DT.INT64, [reshape.length], BigInt64Array.from(reshape.map(BigInt)))], `${name}/reshaped`);
}

function activation(b: GraphBuilder, x: Value, a: Activation, base: string): Value {
  switch (a) {
    case 'linear':
      return x;
    case 'relu':
      return { name: b.op('Relu', [x.name], base), layout: x.layout };
    case 'relu6': {
      const lo = b.init(`${base}/min`, DT.FLOAT, [], new Float32Array([0]));
      const hi = b.init(`${base}/max`, DT.FLOAT, [], new Float32Array([6]));
      return { name: b.op('Clip', [x.name, lo, hi], base), layout: x.layout };
    }
    case 'sigmoid':
      return { name: b.op('Sigmoid', [x.name], base), layout: x.layout };
    case 'tanh':
      return { name: b.op('Tanh', [x.name], base), layout: x.layout };
    case 'softmax':
      return { name: b.op('Softmax', [x.name], base, { axis: x.layout === 'nchw' ? 1 : -1 }), layout: x.layout };
  }
}

/** The ONNX model's bytes. */
export function toOnnx(m: ExportModel): Uint8Array {
  const b = new GraphBuilder();
  const codebooks = new Map<number, string>();
  const { graph } = m;
  const inputName = b.fresh(graph.input.name);
  const values = new Map<string, Value>([[graph.input.name, { name: inputName, layout: 'nhwc' }]]);
  const rank = (name: string) => m.shapes.get(name)!.length;

  const as = (v: Value, layout: Layout, base: string): Value => {
    if (v.layout === layout || v.layout === 'flat') return v;
    return { name: b.op('Transpose', [v.name], `${base}/${layout}`, { perm: layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] }), layout };
  };
  const channelAxis = (v: Value) => (v.layout === 'nchw' ? 1 : -1);
  const spatialAttrs = (n: { strides: [number, number]; padding: 'same' | 'valid' }) => ({ strides: n.strides, auto_pad: n.padding === 'same' ? 'SAME_UPPER' : 'VALID' });

  for (const node of graph.nodes) {
    const input = (name: string) => values.get(name)!;
    const x = 'input' in node ? input(node.input) : null;
    const out = (name: string, layout: Layout): Value => ({ name, layout });
    let y: Value;
    switch (node.op) {
      case 'conv2d': {
        const kernel = m.layers.get(node.kernel)!;
        const w = weight(b, m, node.kernel, node.depthwise ? 'depthwise' : 'conv', codebooks);
        const inputs = [as(x!, 'nchw', node.name).name, w];
        if (node.bias) inputs.push(weight(b, m, node.bias, 'other', codebooks));
        const attrs: Record<string, Attr> = { ...spatialAttrs(node), kernel_shape: kernel.shape.slice(0, 2), dilations: node.dilations ?? [1, 1] };
        if (node.depthwise) attrs.group = kernel.shape[2];
        y = activation(b, out(b.op('Conv', inputs, node.name, attrs), 'nchw'), node.activation ?? 'linear', `${node.name}/activation`);
        break;
      }
      case 'dense': {
        // Gemm with the kernel stored [out, in] (transB): onnxruntime rewrites DequantizeLinear -> MatMul (or a Gemm
        // of an [in, out] kernel) into MatMulNBits, which computes with quantized activations (cnn5's logits off by
        // ~0.03 at 8 bits); this form keeps the float product.
        const inputs = [x!.name, weight(b, m, node.kernel, 'dense', codebooks)];
        if (node.bias) inputs.push(weight(b, m, node.bias, 'other', codebooks));
        y = activation(b, out(b.op('Gemm', inputs, node.name, { transB: 1 }), 'flat'), node.activation ?? 'linear', `${node.name}/activation`);
        break;
      }
      case 'batchNorm': {
        const v = rank(node.input) === 3 ? as(x!, 'nchw', node.name) : x!;
        const params = [node.gamma, node.beta, node.mean, node.variance].map((p) => weight(b, m, p, 'other', codebooks));
        y = out(b.op('BatchNormalization', [v.name, ...params], node.name, { epsilon: node.epsilon }), v.layout);
        break;
      }
      case 'activation':
        y = activation(b, x!, node.activation, node.name);
        break;
      case 'maxPool':
      case 'avgPool': {
        const attrs = { ...spatialAttrs(node), kernel_shape: node.size };
        y = out(b.op(node.op === 'maxPool' ? 'MaxPool' : 'AveragePool', [as(x!, 'nchw', node.name).name], node.name, attrs), 'nchw');
        break;
      }
      case 'globalAvgPool': {
        const pooled = b.op('GlobalAveragePool', [as(x!, 'nchw', node.name).name], `${node.name}/pool`);
        y = out(b.op('Flatten', [pooled], node.name, { axis: 1 }), 'flat');
        break;
      }
      case 'flatten':
        y = out(b.op('Flatten', [as(x!, 'nhwc', node.name).name], node.name, { axis: 1 }), 'flat');
        break;
      case 'reshape': {
        const target = b.init(`${node.name}/shape`, DT.INT64, [node.shape.length + 1], BigInt64Array.from([0, ...node.shape].map(BigInt)));
        y = out(b.op('Reshape', [as(x!, 'nhwc', node.name).name, target], node.name), node.shape.length === 3 ? 'nhwc' : 'flat');
        break;
      }
      case 'add': {
        // ONNX's Add takes two inputs: a chain for more.
        const [first, ...rest] = node.inputs.map(input);
        let sum = first.name;
        rest.forEach((v, i) => (sum = b.op('Add', [sum, as(v, first.layout, node.name).name], i === rest.length - 1 ? node.name : `${node.name}/partial`)));
        y = out(sum, first.layout);
        break;
      }
      case 'concat': {
        const [first, ...rest] = node.inputs.map(input);
        const all = [first, ...rest.map((v) => as(v, first.layout, node.name))];
        y = out(b.op('Concat', all.map((v) => v.name), node.name, { axis: channelAxis(first) }), first.layout);
        break;
      }
      case 'padChannels': {
        const r = rank(node.input) + 1;
        const at = x!.layout === 'nchw' ? 1 : r - 1;
        const pads = new BigInt64Array(2 * r);
        pads[at] = BigInt(node.before);
        pads[r + at] = BigInt(node.after);
        y = out(b.op('Pad', [x!.name, b.init(`${node.name}/pads`, DT.INT64, [2 * r], pads)], node.name, { mode: 'constant' }), x!.layout);
        break;
      }
      case 'dropout':
        y = x!;
        break;
    }
    values.set(node.name, y);
  }

  let result = values.get(graph.output)!;
  if (graph.outputActivation === 'softmax') result = activation(b, result, 'softmax', 'probabilities');
  const output = b.op('Identity', [result.name], graph.outputActivation === 'softmax' ? 'probabilities' : 'logits');

  const [h, w, c] = graph.input.shape;
  const classes = m.shapes.get(graph.output)![0];
  const tensorType = (dims: (number | string)[]) => ({
    tensorType: { elemType: DT.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } },
  });
  const meta = m.artifact.meta;
  const metadataProps = [
    { key: 'quantlab.representation', value: JSON.stringify(m.artifact.representation) },
    ...['model', 'dataset', 'inputShape', 'normalization', 'testLimit', 'testAccuracy'].filter((k) => meta[k] !== undefined).map((k) => ({ key: `quantlab.${k}`, value: JSON.stringify(meta[k]) })),
  ];
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'quantlab',
    graph: {
      name: typeof meta.model === 'string' ? meta.model : 'model',
      node: b.nodes,
      initializer: b.initializers,
      input: [{ name: inputName, type: tensorType(['batch', h, w, c]) }],
      output: [{ name: output, type: tensorType(['batch', classes]) }],
    },
    metadataProps,
  });
  return onnx.ModelProto.encode(model).finish();
}
