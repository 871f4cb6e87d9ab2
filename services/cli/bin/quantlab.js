#!/usr/bin/env node
// Entry point of the `quantlab` command: registers tsx's loader, then runs the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
