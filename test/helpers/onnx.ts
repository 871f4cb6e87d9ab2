// Reads an ONNX model back with onnx-proto: its ops in order, its initializers' names, element types and dims.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const TYPE_NAMES: Record<number, string> = { 1: 'float', 2: 'uint8', 3: 'int8', 4: 'uint16', 6: 'int32', 7: 'int64' };

export function onnxOps(bytes: Uint8Array): { opset: number; ops: string[]; initializers: { name: string; type: string; dims: number[] }[]; metadata: Record<string, string> } {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  return {
    opset: Number(model.opsetImport?.[0].version),
    ops: (graph.node ?? []).map((n) => n.opType!),
    initializers: (graph.initializer ?? []).map((i) => ({ name: i.name!, type: TYPE_NAMES[i.dataType!] ?? String(i.dataType), dims: (i.dims ?? []).map(Number) })),
    metadata: Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key!, p.value!])),
  };
}
