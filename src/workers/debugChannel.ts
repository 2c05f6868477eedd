// How a page in test mode reaches the engine worker's fault-injection hooks (debugHooks.ts): it
// starts the worker under ENGINE_TEST_WORKER_NAME, and posts it a MessagePort under
// DEBUG_PORT_KEY; the worker exposes the hooks (comlink) on that port. A worker started under
// any other name (production) never installs them. Constants and types only, so the page's
// bundle does not pull in the engine.
export type { EngineDebugApi } from './debugHooks';

export const ENGINE_WORKER_NAME = 'whetstone-engine';
export const ENGINE_TEST_WORKER_NAME = 'whetstone-engine-test';
export const DEBUG_PORT_KEY = 'whetstoneDebugPort';
