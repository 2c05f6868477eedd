// Where tuned choices persist between sessions: JSON values by string key. The browser uses
// IndexedDB (idbStore.ts); Node and tests use memory.

export interface TuneStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
}

/** Values are JSON round-tripped so that what comes back is what IndexedDB would give. */
export class MemoryTuneStore implements TuneStore {
  private map = new Map<string, string>();

  async get(key: string): Promise<unknown> {
    const v = this.map.get(key);
    return v === undefined ? undefined : JSON.parse(v);
  }

  async set(key: string, value: unknown): Promise<void> {
    this.map.set(key, JSON.stringify(value));
  }

  get size(): number {
    return this.map.size;
  }
}
