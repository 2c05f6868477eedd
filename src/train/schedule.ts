// Learning rate at an optimizer step (0-based): linear warm-up from 0, then constant, linear decay
// to 0, or cosine decay to 0, over the remaining steps (the transformers get_*_schedule_with_warmup
// definitions).
import type { LrSchedule } from './config';

export function learningRateAt(step: number, baseLr: number, schedule: LrSchedule, warmupSteps: number, totalSteps: number): number {
  if (warmupSteps > 0 && step < warmupSteps) return (baseLr * step) / warmupSteps;
  if (schedule === 'constant') return baseLr;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  if (schedule === 'linear') return baseLr * Math.max(0, 1 - progress);
  return baseLr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
