/**
 * The ModelGraph contract (a model's computation as data) lives in @quantlab/shared/models/graph: the API parses
 * uploaded models into it and may import shared alone. Re-exported here so ml code keeps importing it from models/.
 */
export * from '@quantlab/shared/models/graph';
