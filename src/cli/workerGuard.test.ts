// The guard against a failed engine worker: pending and later calls reject with the failure's
// message instead of hanging; calls that answered before are unaffected.
import * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import { guardWorker, workerFailureMessage } from './workerGuard';

/** an API whose calls answer only when told to (as a dead worker's never do) */
function slowApi() {
  const pending: (() => void)[] = [];
  return {
    api: {
      now: async () => 1,
      never: () => new Promise<number>(() => {}),
      later: () => new Promise<number>((r) => pending.push(() => r(2))),
    },
    answer: () => pending.splice(0).forEach((f) => f()),
  };
}

describe('guardWorker', () => {
  it('a pending call and every later call reject once the worker fires error', async () => {
    const worker = new EventTarget();
    const { api } = slowApi();
    const g = guardWorker(worker, api);
    expect(await g.api.now()).toBe(1);
    const hung = g.api.never();
    worker.dispatchEvent(new Event('error'));
    await expect(hung).rejects.toThrow(/engine worker could not be started: its script did not load/);
    await expect(g.api.now()).rejects.toThrow(/could not be started/);
    await expect(g.failed).rejects.toThrow(/could not be started/);
  });

  it('messageerror fails the calls too; calls answered before the failure keep their answers', async () => {
    const worker = new EventTarget();
    const s = slowApi();
    const g = guardWorker(worker, s.api);
    const before = g.api.later();
    s.answer();
    expect(await before).toBe(2);
    const pending = g.api.later();
    worker.dispatchEvent(new Event('messageerror'));
    await expect(pending).rejects.toThrow(/messageerror/);
  });

  it('an error event with a message names it and where it happened', () => {
    const e = Object.assign(new Event('error'), { message: 'SyntaxError: Unexpected token', filename: 'http://x/engine.worker.ts', lineno: 3 });
    expect(workerFailureMessage(e)).toBe('The engine worker failed: SyntaxError: Unexpected token (http://x/engine.worker.ts:3). Run with --verbose for the browser’s messages.');
  });

  it('guards a real comlink Remote (over a MessageChannel): calls reach the exposed object with their arguments', async () => {
    const { port1, port2 } = new MessageChannel();
    class Api {
      #base = 40;
      async add(n: number) {
        return this.#base + n;
      }
      never() {
        return new Promise<number>(() => {});
      }
    }
    Comlink.expose(new Api(), port1);
    const worker = new EventTarget();
    const g = guardWorker(worker, Comlink.wrap<Api>(port2));
    expect(await g.api.add(2)).toBe(42);
    const hung = g.api.never();
    worker.dispatchEvent(new Event('error'));
    await expect(hung).rejects.toThrow(/could not be started/);
    port1.close();
    port2.close();
  });
});
