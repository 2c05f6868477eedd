// The checkpoint store's key-value interface on IndexedDB (idb-keyval), usable in the worker.
import { createStore, del, get, keys, set } from 'idb-keyval';
import type { KeyValueStore } from '../train/checkpointStore';

export function idbKeyValueStore(dbName = 'whetstone', storeName = 'runs'): KeyValueStore {
  const store = createStore(dbName, storeName);
  return {
    get: <T>(key: string) => get<T>(key, store),
    set: (key, value) => set(key, value, store),
    del: (key) => del(key, store),
    keys: async () => (await keys(store)).map(String),
  };
}
