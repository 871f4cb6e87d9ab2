// Entry of a training thread. Node 20 does not pass tsx's loader on to worker threads, so register it here, then
// load the TypeScript thread module.
import { register } from 'tsx/esm/api';

register();
await import('./thread.ts');
