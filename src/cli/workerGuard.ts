// A worker that fails to load (a 404, a syntax error in one of its modules) or dies never answers
// a comlink call: the call's promise would stay pending and the command would hang. The guard
// listens for the Worker's 'error' and 'messageerror' events and makes every pending and later
// call on the API fail with a message that says what happened.

/** A message for the worker's failure event (a load failure comes as a plain Event, with no message). */
export function workerFailureMessage(e: Event): string {
  const ev = e as Partial<ErrorEvent>;
  const where = ev.filename ? ` (${ev.filename}${ev.lineno ? `:${ev.lineno}` : ''})` : '';
  if (e.type === 'messageerror') return 'The engine worker sent a message that could not be read (messageerror). Run with --verbose for the browser’s messages.';
  if (ev.message) return `The engine worker failed: ${ev.message}${where}. Run with --verbose for the browser’s messages.`;
  return 'The engine worker could not be started: its script did not load (a missing file, or a syntax error in one of its modules). Run with --verbose for the browser’s messages.';
}

export interface GuardedWorker<T extends object> {
  /** the API whose calls fail once the worker failed */
  api: T;
  /** rejects (with the failure's message) when the worker fails; never resolves */
  failed: Promise<never>;
}

/** Wrap `remote` (a comlink Remote of the worker `target`) so that no call outlives the worker's failure. */
export function guardWorker<T extends object>(target: EventTarget, remote: T): GuardedWorker<T> {
  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  // a failure nobody awaits yet is not an unhandled rejection: calls made later see it
  failed.catch(() => {});
  let failure: Error | null = null;
  const onFailure = (e: Event) => {
    failure ??= new Error(workerFailureMessage(e));
    fail(failure);
  };
  target.addEventListener('error', onFailure);
  target.addEventListener('messageerror', onFailure);
  const api = new Proxy(remote, {
    get(obj, key) {
      const member = Reflect.get(obj, key) as unknown;
      if (typeof member !== 'function') return member;
      // called as is, not with .apply (a comlink Remote would send `apply` to the worker as a member name);
      // after the failure a call is not sent at all (a dead worker answers nothing, a live one might)
      return (...args: unknown[]) => failure ? Promise.reject(failure) : Promise.race([(member as (...a: unknown[]) => unknown)(...args), failed]);
    },
  });
  return { api, failed };
}
