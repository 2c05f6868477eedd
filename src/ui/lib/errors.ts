// Turns what the worker throws into words for the user. The engine's own errors already say what
// is wrong and how to fix it; the ones it cannot phrase (a missing method in an older worker, a
// crashed worker, a lost device) are translated here.

/** The message of anything thrown, without a leading "Error: ". */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && 'message' in e && typeof (e as { message: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return String(e);
}

/**
 * A message for a failed engine call. `method` is the EngineApi method that was called, `doing`
 * says what the user asked for ("load the model").
 */
export function engineErrorMessage(e: unknown, method: string, doing: string): string {
  const text = errorText(e);
  // comlink calls `.apply` on the property it finds; a worker without the method leaves undefined.
  if (/reading 'apply'|undefined is not an object \(evaluating '.*\.apply'\)|\.apply is not a function/.test(text)) {
    return `Could not ${doing}: this version of the engine has no ${method}() yet. Reload the page after updating Whetstone.`;
  }
  if (/DataCloneError|could not be cloned/i.test(text)) {
    return `Could not ${doing}: the data could not be passed to the engine (${text}). Reload the page and try again.`;
  }
  if (!text) return `Could not ${doing}. Reload the page and try again.`;
  return `Could not ${doing}: ${text}`;
}
