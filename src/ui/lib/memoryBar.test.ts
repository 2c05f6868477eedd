import { describe, expect, it } from 'vitest';
import type { MemoryEstimate } from '../../train/memory';
import { memoryBarModel } from './memoryBar';

const MiB = 2 ** 20;
const est = (over: Partial<MemoryEstimate> = {}): MemoryEstimate => ({
  weightsBytes: 40 * MiB,
  loraBytes: 2 * MiB,
  optimizerBytes: 2 * MiB,
  activationsBytes: 30 * MiB,
  activationsOtherBytes: 5 * MiB,
  scratchBytes: 16 * MiB,
  logitsChunkBytes: 10 * MiB,
  totalBytes: 100 * MiB,
  largestBufferBytes: 10 * MiB,
  limitBytes: 200 * MiB,
  fits: true,
  advice: null,
  ...over,
});

describe('memoryBarModel', () => {
  it('groups the estimate into four segments scaled to the limit', () => {
    const m = memoryBarModel(est());
    expect(m.segments.map((s) => s.key)).toEqual(['weights', 'adapter', 'activations', 'temporaries']);
    expect(m.segments.map((s) => s.bytes / MiB)).toEqual([40, 4, 30, 26]);
    expect(m.totalBytes).toBe(100 * MiB);
    expect(m.segments[0].fraction).toBeCloseTo(0.2);
    expect(m.limitFraction).toBe(1);
    expect(m.usedOfLimit).toBeCloseTo(0.5);
  });
  it('scales to the total when it is over the limit, so the limit line sits inside the bar', () => {
    const m = memoryBarModel(est({ limitBytes: 50 * MiB }));
    expect(m.segments.reduce((s, x) => s + x.fraction, 0)).toBeCloseTo(1);
    expect(m.limitFraction).toBeCloseTo(0.5);
    expect(m.usedOfLimit).toBeCloseTo(2);
  });
  it('names the trained part after the method', () => {
    expect(memoryBarModel(est()).segments[1].label).toBe('LoRA + optimizer');
    expect(memoryBarModel(est({ method: 'prompt' })).segments[1].label).toBe('Virtual tokens + optimizer');
    expect(memoryBarModel(est({ method: 'full' })).segments[1].label).toBe('f32 weights, gradients + optimizer');
  });
  it('has no limit line when the browser gives no memory size', () => {
    const m = memoryBarModel(est({ limitBytes: null }));
    expect(m.limitFraction).toBeNull();
    expect(m.usedOfLimit).toBeNull();
    expect(m.segments.reduce((s, x) => s + x.fraction, 0)).toBeCloseTo(1);
  });
});
