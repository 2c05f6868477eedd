// Runs and their checkpoints in a key-value store (IndexedDB through idb-keyval in the browser).
// A checkpoint is written atomically: the new record first, then the run's pointer to it, then
// older records are deleted. A crash at any point leaves the previous pointer and its record
// intact, so the run stays resumable.

export interface KeyValueStore {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

export interface LossPoint {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  valLoss?: number;
}

export interface RunRecord {
  id: string;
  name: string;
  createdAt: number;
  updatedAt: number;
  status: 'running' | 'paused' | 'stopped' | 'finished' | 'failed';
  /** model identity, so a resume can check it is the same base model at the same precision */
  model: {
    name: string;
    architecture: string;
    fingerprint: string;
    /** the base's load-time quantization (workers/services/runBase.ts); absent in runs from before: 'none' */
    quantization?: 'none' | 'int8' | 'int4';
  };
  dataset: { name: string; fingerprint: string };
  config: unknown;
  totalSteps: number;
  history: LossPoint[];
  /** key of the latest complete checkpoint, or null */
  checkpoint: string | null;
  checkpointStep: number;
  message?: string;
  /** where the base model came from, to load it again for a resume (absent: runs from before) */
  modelSource?: StoredModelSource;
  /** bytes of the tokenized dataset kept with the run (runStorage); absent or 0: none kept */
  datasetBytes?: number;
  /** bytes of the latest checkpoint's tensors */
  checkpointBytes?: number;
}

/** A model source as a run remembers it: enough to load the same model again, or to name the folder to drop again. */
export type StoredModelSource =
  | { kind: 'demo' }
  | { kind: 'url'; baseUrl: string; name?: string }
  | { kind: 'hub'; repo: string; revision?: string; endpoint?: string }
  | { kind: 'folder'; name: string };

/** Bytes of a checkpoint's tensors (parameters and both AdamW moments). */
export function checkpointBytes(ckpt: Pick<CheckpointRecord, 'params' | 'adamM' | 'adamV'>): number {
  let n = 0;
  for (const group of [ckpt.params, ckpt.adamM, ckpt.adamV]) for (const t of Object.values(group)) n += t.byteLength;
  return n;
}

export interface CheckpointRecord {
  runId: string;
  step: number;
  /** trainable tensors by name (LoRA A/B or prompt embeddings), f32 */
  params: Record<string, Float32Array>;
  /** AdamW first and second moments by parameter name */
  adamM: Record<string, Float32Array>;
  adamV: Record<string, Float32Array>;
  /** data cursor and RNG state: enough to continue exactly */
  cursor: unknown;
  rngState: number[];
  history: LossPoint[];
  savedAt: number;
}

const RUN = 'run:';
const CKPT = 'ckpt:';

export class CheckpointStore {
  constructor(private kv: KeyValueStore) {}

  async listRuns(): Promise<RunRecord[]> {
    const keys = (await this.kv.keys()).filter((k) => k.startsWith(RUN));
    const runs = await Promise.all(keys.map((k) => this.kv.get<RunRecord>(k)));
    return runs.filter((r): r is RunRecord => !!r).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.kv.get<RunRecord>(RUN + id);
  }

  async putRun(run: RunRecord): Promise<void> {
    await this.kv.set(RUN + run.id, { ...run, updatedAt: Date.now() });
  }

  /** Save a checkpoint and move the run's pointer to it; returns the checkpoint key. */
  async saveCheckpoint(run: RunRecord, ckpt: CheckpointRecord): Promise<string> {
    const key = `${CKPT}${run.id}:${String(ckpt.step).padStart(8, '0')}:${ckpt.savedAt}`;
    await this.kv.set(key, ckpt); // 1. the record (a crash here leaves an orphan, never a broken pointer)
    const previous = run.checkpoint;
    run.checkpoint = key;
    run.checkpointStep = ckpt.step;
    run.history = ckpt.history;
    run.checkpointBytes = checkpointBytes(ckpt);
    await this.putRun(run); // 2. the pointer
    if (previous && previous !== key) await this.kv.del(previous); // 3. clean-up
    return key;
  }

  async loadCheckpoint(run: RunRecord): Promise<CheckpointRecord | null> {
    if (!run.checkpoint) return null;
    return (await this.kv.get<CheckpointRecord>(run.checkpoint)) ?? null;
  }

  async deleteRun(id: string): Promise<void> {
    const run = await this.getRun(id);
    await this.kv.del(RUN + id);
    const keys = (await this.kv.keys()).filter((k) => k.startsWith(`${CKPT}${id}:`));
    for (const k of keys) await this.kv.del(k);
    if (run?.checkpoint) await this.kv.del(run.checkpoint);
  }

  /** Remove checkpoint records no run points to (left by a crash between steps 1 and 2). */
  async removeOrphans(): Promise<number> {
    const keys = await this.kv.keys();
    const runs = await this.listRuns();
    const live = new Set(runs.map((r) => r.checkpoint));
    let removed = 0;
    for (const k of keys) {
      if (k.startsWith(CKPT) && !live.has(k)) {
        await this.kv.del(k);
        removed++;
      }
    }
    return removed;
  }
}

/** A Map-backed store for Node tests of the checkpoint logic (the browser e2e uses IndexedDB). */
export class MemoryKeyValueStore implements KeyValueStore {
  readonly map = new Map<string, unknown>();
  failNextSet: ((key: string) => boolean) | null = null;
  async get<T>(key: string) {
    return this.map.get(key) as T | undefined;
  }
  async set(key: string, value: unknown) {
    if (this.failNextSet?.(key)) {
      this.failNextSet = null;
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    }
    this.map.set(key, structuredClone(value));
  }
  async del(key: string) {
    this.map.delete(key);
  }
  async keys() {
    return [...this.map.keys()];
  }
}
