export { buildApp, type BuildAppOptions } from './app.ts';
export { PROBLEMS, problemUri, HttpProblem, type ProblemType } from './problem.ts';
