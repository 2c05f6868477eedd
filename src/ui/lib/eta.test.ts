import { describe, expect, it } from 'vitest';
import { EtaEstimator, etaText } from './eta';

describe('EtaEstimator', () => {
  it('estimates from the measured rate: 1 MB/s with 8 MB to go is 8 s', () => {
    const e = new EtaEstimator({ windowMs: 10_000, minElapsedMs: 400 });
    expect(e.update(0, 10e6, 0)).toBeNull(); // nothing measured yet
    expect(e.update(1e5, 10e6, 100)).toBeNull(); // under minElapsedMs
    expect(e.update(2e6, 10e6, 2000)).toBeCloseTo(8, 6);
  });

  it('is unknown without a total and 0 when done', () => {
    const e = new EtaEstimator({ minElapsedMs: 0 });
    e.update(0, null, 0);
    expect(e.update(5, null, 1000)).toBeNull();
    expect(e.update(10, 10, 2000)).toBe(0);
  });

  it('uses a sliding window: after a slow start the rate is the recent one', () => {
    const e = new EtaEstimator({ windowMs: 2_000, minElapsedMs: 0 });
    e.update(0, 100e6, 0);
    e.update(1e6, 100e6, 5_000); // slow start: 0.2 MB/s
    for (let t = 5_500; t <= 9_000; t += 500) e.update(1e6 + ((t - 5_000) / 1000) * 10e6, 100e6, t); // then 10 MB/s
    const done = 1e6 + 4 * 10e6;
    // 59 MB left at 10 MB/s (the slow start fell out of the window)
    expect(e.update(done, 100e6, 9_000)).toBeCloseTo((100e6 - done) / 10e6, 6);
  });

  it('starts again for a new phase or file, and when progress goes backwards', () => {
    const e = new EtaEstimator({ minElapsedMs: 0 });
    e.update(0, 100, 0, 'download');
    expect(e.update(50, 100, 1000, 'download')).toBeCloseTo(1, 6);
    expect(e.update(10, 100, 1100, 'upload')).toBeNull(); // one sample of the new phase
    expect(e.update(30, 100, 2100, 'upload')).toBeCloseTo(3.5, 6); // 20/s, 70 left
    expect(e.update(5, 100, 2200, 'upload')).toBeNull(); // went back: a new measurement
  });

  it('formats for a progress line', () => {
    expect(etaText(null)).toBe(' · ETA —');
    expect(etaText(185)).toBe(' · ETA 3 min 05 s');
    expect(etaText(0)).toBe(' · ETA 0 s');
  });
});
