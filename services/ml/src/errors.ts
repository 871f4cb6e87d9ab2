/** A config or data problem: retrying cannot help (the worker fails the run once, with this message). */
export class RunInputError extends Error {}
