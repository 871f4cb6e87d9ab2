export * from './expand.ts';
export * from './presets.ts';
export * from './summary.ts';
export * from './stats.ts';
export * from './allocate.ts';
export * from './kept.ts';
