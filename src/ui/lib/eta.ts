// Time left for long work (model download and upload, tokenizing a dataset, exporting a large
// model), from the rate measured so far: no guesses from sizes, only bytes done per second seen.
// The rate is taken over a sliding window, so a slow start (opening a connection) or a burst (a
// file from the cache) does not decide the estimate for the rest of the work.
import { formatDuration } from './format';

export interface EtaOptions {
  /** the rate is measured over the last this many milliseconds */
  windowMs?: number;
  /** no estimate before this much work time was measured (too noisy) */
  minElapsedMs?: number;
}

export class EtaEstimator {
  private samples: { t: number; done: number }[] = [];
  private key: string | null = null;
  private readonly windowMs: number;
  private readonly minElapsedMs: number;

  constructor(opts: EtaOptions = {}) {
    this.windowMs = opts.windowMs ?? 8_000;
    this.minElapsedMs = opts.minElapsedMs ?? 400;
  }

  reset(): void {
    this.samples = [];
    this.key = null;
  }

  /**
   * Record that `done` of `total` units are done at `now` (ms) and return the seconds left, or
   * null while unknown (no total, too little measured, no progress yet). A new `key` (the next
   * phase or file) or progress going backwards starts a new measurement.
   */
  update(done: number, total: number | null | undefined, now: number, key = ''): number | null {
    if (key !== this.key || done < (this.samples.at(-1)?.done ?? 0)) {
      this.samples = [];
      this.key = key;
    }
    const tail = this.samples.at(-1);
    if (!tail || tail.t !== now || tail.done !== done) this.samples.push({ t: now, done });
    // keep the newest sample before the window as the window's start
    while (this.samples.length > 2 && now - this.samples[1].t >= this.windowMs) this.samples.shift();
    if (!total || !(total > 0)) return null;
    if (done >= total) return 0;
    const first = this.samples[0];
    const elapsed = now - first.t;
    const gained = done - first.done;
    if (elapsed < this.minElapsedMs || gained <= 0) return null;
    return ((total - done) / gained) * (elapsed / 1000);
  }
}

/** " · ETA 3 min 05 s" (" · ETA —" while unknown), for a progress line. */
export function etaText(seconds: number | null | undefined): string {
  return ` · ETA ${seconds === null || seconds === undefined ? '—' : formatDuration(seconds)}`;
}
