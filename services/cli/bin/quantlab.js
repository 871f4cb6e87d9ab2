#!/usr/bin/env node
// Entry point of the `quantlab` command: runs the TypeScript CLI through tsx's loader.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

register('tsx/esm', pathToFileURL(import.meta.filename));
await import('../src/main.ts');
