/**
 * Exports of a run's artifact to formats other runtimes load: ONNX (onnxruntime), TF.js Layers (tf.loadLayersModel),
 * NumPy's .npz. Free of TF.js (lint checks its imports), so the API can serve them.
 */
import { ExportError, decodeForExport, exportModel, type ExportFormat } from './model.ts';
import { toNpz } from './npz.ts';
import { toOnnx } from './onnx.ts';
import { toTfjsZip } from './tfjs.ts';

export { EXPORT_FORMATS, ExportError, decodeForExport, exportModel, graphShapes, type ExportFormat, type ExportModel } from './model.ts';
export { ONNX_OPSET, toOnnx } from './onnx.ts';
export { TFJS_SHARD, tfjsArtifacts, toTfjsZip } from './tfjs.ts';
export { NPZ_FORMAT, npy, toNpz } from './npz.ts';

export const EXPORT_MEDIA_TYPES: Record<ExportFormat, string> = { onnx: 'application/onnx', tfjs: 'application/zip', npz: 'application/zip' };
export const EXPORT_EXTENSIONS: Record<ExportFormat, string> = { onnx: '.onnx', tfjs: '.tfjs.zip', npz: '.npz' };

/** An artifact's bytes exported to `format`; ExportError when the artifact cannot be. */
export function exportArtifact(bytes: Uint8Array, format: ExportFormat): Uint8Array {
  switch (format) {
    case 'onnx':
      return toOnnx(exportModel(bytes));
    case 'tfjs':
      return toTfjsZip(exportModel(bytes));
    case 'npz':
      return toNpz(decodeForExport(bytes));
    default:
      throw new ExportError(`unknown export format "${String(format)}"`);
  }
}
