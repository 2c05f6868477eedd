// GPU work whose failures must come back to the caller instead of reaching the page as uncaptured
// errors: the work runs in a validation error scope, and afterwards the allocator says whether an
// allocation made meanwhile ran out of memory. An out-of-memory comes first: the buffer it left
// invalid is what made the later commands fail validation.
import type { OutOfMemoryFailure } from './allocator';
import type { GpuContext } from './device';

export type GuardOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; outOfMemory: OutOfMemoryFailure; thrown: unknown }
  | { ok: false; outOfMemory: null; thrown: unknown; invalid: GPUError | null };

export async function guardGpuWork<T>(ctx: GpuContext, work: () => Promise<T>): Promise<GuardOutcome<T>> {
  ctx.device.pushErrorScope('validation');
  let result: { value: T } | null = null;
  let thrown: unknown = null;
  try {
    result = { value: await work() };
  } catch (e) {
    thrown = e;
  }
  // submit what the work recorded, so its errors land in the scope
  try {
    ctx.flush();
  } catch (e) {
    thrown ??= e;
  }
  // a lost device rejects the pop; the loss itself is reported through device.lost
  const invalid = await ctx.device.popErrorScope().catch(() => null);
  const outOfMemory = await ctx.allocator.checkOutOfMemory();
  if (outOfMemory) return { ok: false, outOfMemory, thrown };
  if (result && !invalid && thrown === null) return { ok: true, value: result.value };
  return { ok: false, outOfMemory: null, thrown, invalid };
}

/** The outcome's value, or what went wrong as an error (`where` says during what). */
export function unwrapGuarded<T>(outcome: GuardOutcome<T>, where: string, outOfMemoryError: (f: OutOfMemoryFailure) => Error): T {
  if (outcome.ok) return outcome.value;
  if (outcome.outOfMemory) throw outOfMemoryError(outcome.outOfMemory);
  if (outcome.thrown !== null) throw outcome.thrown;
  throw new Error(`WebGPU validation error ${where}: ${outcome.invalid?.message ?? 'unknown'}`);
}
