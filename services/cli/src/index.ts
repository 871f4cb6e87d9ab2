export { CliError } from './cli-error.ts';
