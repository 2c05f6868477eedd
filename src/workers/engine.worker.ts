// The engine worker: owns the GPUDevice and runs every kernel. The UI reaches it only through
// the EngineApi interface (comlink); the work itself is in engine.ts.
import * as Comlink from 'comlink';
import { browserTuneStore } from '../gpu/tune/idbStore';
import { Engine } from './engine';
import { idbKeyValueStore } from './idbStore';
import { opfsRunFiles } from './runStorage';

const engine = new Engine({ kv: idbKeyValueStore(), tuneStore: browserTuneStore() ?? undefined, runFiles: opfsRunFiles() ?? undefined });
Comlink.expose(engine);
