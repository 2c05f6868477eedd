// The memory estimate as bar segments: what the weights, the adapter and its optimizer state,
// the saved activations and the temporaries take, against the device's limit.
import type { MemoryEstimate } from '../../train/memory';

export interface MemorySegment {
  key: 'weights' | 'adapter' | 'activations' | 'temporaries';
  label: string;
  bytes: number;
  /** share of the bar's full width, 0..1 */
  fraction: number;
}

export interface MemoryBarModel {
  segments: MemorySegment[];
  totalBytes: number;
  /** where the limit sits on the bar (0..1), or null when the browser does not say */
  limitFraction: number | null;
  /** share of the limit used, or null */
  usedOfLimit: number | null;
}

// What the "trained" segment holds, per method (estimates from before methods existed: LoRA).
const TRAINED_LABEL: Record<NonNullable<MemoryEstimate['method']>, string> = {
  lora: 'LoRA + optimizer',
  prompt: 'Virtual tokens + optimizer',
  full: 'f32 weights, gradients + optimizer',
  bottleneck: 'Bottleneck adapters + optimizer',
  ia3: '(IA)³ vectors + optimizer',
  prefix: 'Key/value prefix + optimizer',
};

export function memoryBarModel(e: MemoryEstimate): MemoryBarModel {
  const parts: Omit<MemorySegment, 'fraction'>[] = [
    { key: 'weights', label: 'Model weights', bytes: e.weightsBytes },
    { key: 'adapter', label: TRAINED_LABEL[e.method ?? 'lora'], bytes: e.loraBytes + e.optimizerBytes },
    { key: 'activations', label: 'Activations', bytes: e.activationsBytes },
    { key: 'temporaries', label: 'Temporaries', bytes: e.scratchBytes + e.logitsChunkBytes },
  ];
  const total = parts.reduce((s, p) => s + p.bytes, 0);
  const limit = e.limitBytes && e.limitBytes > 0 ? e.limitBytes : null;
  const scale = Math.max(total, limit ?? 0) || 1;
  return {
    segments: parts.map((p) => ({ ...p, fraction: p.bytes / scale })),
    totalBytes: total,
    limitFraction: limit ? limit / scale : null,
    usedOfLimit: limit ? total / limit : null,
  };
}
