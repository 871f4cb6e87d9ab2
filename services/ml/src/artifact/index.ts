export * from './format.ts';
export { packArtifact } from './pack.ts';
export { decodeArtifact, type DecodedArtifact, type DecodedLayer } from './decode.ts';
export { crc32 } from './crc32.ts';
