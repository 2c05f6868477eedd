// The engine worker: owns the GPUDevice and runs every kernel. The UI reaches it only through
// the EngineApi interface (comlink); the work itself is in engine.ts. Started in test mode (see
// debugChannel.ts), it also serves the fault-injection hooks on a port of their own.
import * as Comlink from 'comlink';
import { browserTuneStore } from '../gpu/tune/idbStore';
import { Engine } from './engine';
import { idbKeyValueStore } from './idbStore';
import { opfsRunFiles } from './runStorage';
import { DEBUG_PORT_KEY, ENGINE_TEST_WORKER_NAME } from './debugChannel';

const engine = new Engine({ kv: idbKeyValueStore(), tuneStore: browserTuneStore() ?? undefined, runFiles: opfsRunFiles() ?? undefined });
Comlink.expose(engine);

if (self.name === ENGINE_TEST_WORKER_NAME) {
  self.addEventListener('message', (e: MessageEvent) => {
    const port: unknown = (e.data as Record<string, unknown> | null)?.[DEBUG_PORT_KEY];
    if (!(port instanceof MessagePort)) return;
    void import('./debugHooks').then(({ engineDebugApi }) => Comlink.expose(engineDebugApi(engine), port));
  });
}
