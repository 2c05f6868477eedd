import { describe, expect, it } from 'vitest';
import type { UseStore } from 'idb-keyval';
import { browserTuneStore, IdbTuneStore } from './idbStore';
import { MemoryTuneStore } from './store';

describe('tune stores', () => {
  it('IdbTuneStore passes keys, JSON values and its own database to idb-keyval', async () => {
    const data = new Map<string, unknown>();
    const opened: string[] = [];
    const fakeStore = (() => Promise.resolve()) as unknown as UseStore;
    const store = new IdbTuneStore(
      'db',
      'st',
      {
        get: async (k, s) => (expect(s).toBe(fakeStore), data.get(k)),
        set: async (k, v, s) => void (expect(s).toBe(fakeStore), data.set(k, v)),
      },
      (db, name) => (opened.push(`${db}/${name}`), fakeStore),
    );
    expect(opened).toEqual(['db/st']);
    await store.set('a', { winner: 'v5_q2x2', t: [1, 2], skip: undefined });
    expect(await store.get('a')).toEqual({ winner: 'v5_q2x2', t: [1, 2] });
    expect(await store.get('missing')).toBeUndefined();
  });

  it('there is no IndexedDB in Node; the memory store round-trips JSON', async () => {
    expect(browserTuneStore()).toBeNull();
    const m = new MemoryTuneStore();
    await m.set('k', { a: 1 });
    expect(await m.get('k')).toEqual({ a: 1 });
    expect(await m.get('other')).toBeUndefined();
    expect(m.size).toBe(1);
  });
});
