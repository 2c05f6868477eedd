import { describe, expect, it } from 'vitest';
import type { LossPoint } from '../../train/checkpointStore';
import { historyColumns, isResumable, lastValue, lockedRunIds, runStatusText, sparklinePoints } from './runs';

const pt = (step: number, loss: number, extra: Partial<LossPoint> = {}): LossPoint => ({ step, loss, lr: 1e-3, gradNorm: 1, tokensPerSecond: 100, ...extra });

describe('isResumable', () => {
  it('offers paused and interrupted runs, not the live one or finished ones', () => {
    expect(isResumable({ id: 'a', status: 'paused', checkpointStep: 10 }, null)).toBe(true);
    expect(isResumable({ id: 'a', status: 'running', checkpointStep: 10 }, null)).toBe(true);
    expect(isResumable({ id: 'a', status: 'running', checkpointStep: 10 }, 'a')).toBe(false);
    expect(isResumable({ id: 'a', status: 'paused', checkpointStep: 10 }, 'a')).toBe(false);
    expect(isResumable({ id: 'a', status: 'finished', checkpointStep: 60 }, null)).toBe(false);
    expect(isResumable({ id: 'a', status: 'stopped', checkpointStep: 20 }, null)).toBe(false);
  });
  it('offers a failed run only when it has a checkpoint to go back to', () => {
    expect(isResumable({ id: 'a', status: 'failed', checkpointStep: 10 }, null)).toBe(true);
    expect(isResumable({ id: 'a', status: 'failed', checkpointStep: 0 }, null)).toBe(false);
  });
  it('calls a running run that is not live interrupted', () => {
    expect(runStatusText({ id: 'a', status: 'running' }, null)).toBe('interrupted');
    expect(runStatusText({ id: 'a', status: 'running' }, 'a')).toBe('running');
    expect(runStatusText({ id: 'a', status: 'finished' }, null)).toBe('finished');
  });
  it('shows a run another tab trains (its lock is held) read-only', () => {
    const elsewhere = lockedRunIds({ held: [{ name: 'whetstone-run-a' }, { name: 'other-lock' }, {}], pending: [] } as { held: { name?: string }[] });
    expect([...elsewhere]).toEqual(['a']);
    expect(isResumable({ id: 'a', status: 'running', checkpointStep: 10 }, null, elsewhere)).toBe(false);
    expect(isResumable({ id: 'b', status: 'running', checkpointStep: 10 }, null, elsewhere)).toBe(true);
    expect(runStatusText({ id: 'a', status: 'running' }, null, elsewhere)).toBe('training in another tab');
    // this tab's own run holds the lock too, and is not "elsewhere"
    expect(runStatusText({ id: 'a', status: 'running' }, 'a', elsewhere)).toBe('running');
  });
});

describe('historyColumns', () => {
  it('sorts by step, keeps the latest of repeated steps and turns NaN into gaps', () => {
    const cols = historyColumns([pt(1, 3), pt(2, 2.5), pt(3, NaN), pt(2, 2.4, { valLoss: 2.6 }), pt(4, 2, { gradNorm: Infinity })]);
    expect(cols.step).toEqual([1, 2, 3, 4]);
    expect(cols.loss).toEqual([3, 2.4, null, 2]);
    expect(cols.valLoss).toEqual([null, 2.6, null, null]);
    expect(cols.gradNorm).toEqual([1, 1, 1, null]);
    expect(cols.lr).toHaveLength(4);
    expect(lastValue(cols.loss)).toBe(2);
    expect(lastValue(cols.valLoss)).toBe(2.6);
    expect(lastValue([null, null])).toBeNull();
  });
});

describe('sparklinePoints', () => {
  it('maps the range onto the box, lowest value at the bottom', () => {
    expect(sparklinePoints([4, null, 2], 10, 5)).toBe('0.0,0.0 10.0,5.0');
    expect(sparklinePoints([1], 10, 5)).toBe('');
    expect(sparklinePoints([1, 1], 10, 5)).toBe('0.0,5.0 10.0,5.0');
  });
});
