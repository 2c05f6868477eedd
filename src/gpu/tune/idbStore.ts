// TuneStore on IndexedDB through idb-keyval (browser main thread or worker). A database of its own,
// so clearing it never touches other data.
import { createStore, get, set, type UseStore } from 'idb-keyval';
import type { TuneStore } from './store';

/** The two idb-keyval calls used, injectable so the store's logic is testable without IndexedDB. */
export interface KeyvalBackend {
  get(key: string, store: UseStore): Promise<unknown>;
  set(key: string, value: unknown, store: UseStore): Promise<void>;
}

export class IdbTuneStore implements TuneStore {
  private store: UseStore;

  constructor(
    dbName = 'whetstone-tuning',
    storeName = 'choices',
    private backend: KeyvalBackend = { get, set },
    makeStore: (db: string, name: string) => UseStore = createStore,
  ) {
    this.store = makeStore(dbName, storeName);
  }

  get(key: string): Promise<unknown> {
    return this.backend.get(key, this.store);
  }

  set(key: string, value: unknown): Promise<void> {
    // structured clone of a plain JSON tree: what was set is what get returns
    return this.backend.set(key, JSON.parse(JSON.stringify(value)), this.store);
  }
}

/** IndexedDB where it exists (browsers), else null. */
export function browserTuneStore(): IdbTuneStore | null {
  return typeof indexedDB === 'undefined' ? null : new IdbTuneStore();
}
