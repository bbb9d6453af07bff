import { EventEmitter } from 'node:events';

/** Activities report here to the test (the worker runs in the test's process). */
export const hooks = new EventEmitter();
