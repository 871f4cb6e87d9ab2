export function resolveImport(root: string, fromFile: string, spec: string): string | null;
export function importGraph(root: string): Map<string, Set<string>>;
export function importCycles(graph: Map<string, Set<string>>): string[][];
export const LAYERS: { workspaces: Record<string, string[]>; folders: Record<string, Record<string, number>> };
export function placeOf(root: string, file: string): { ws: string; folder: string };
export function layerViolation(root: string, from: string, to: string): string | null;
