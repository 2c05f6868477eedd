import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatInt, formatMetric, formatPercent } from './format';

describe('formatBytes', () => {
  it('uses binary units with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.00 KiB');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(15 * 1024 * 1024)).toBe('15.0 MiB');
    expect(formatBytes(300 * 2 ** 20)).toBe('300 MiB');
    expect(formatBytes(2 ** 30)).toBe('1.00 GiB');
    expect(formatBytes(1.5 * 2 ** 40)).toBe('1.50 TiB');
  });
  it('never shows 1024 of a unit', () => {
    expect(formatBytes(2 ** 20 - 1)).toBe('1.00 MiB');
  });
  it('handles negatives and non-finite values', () => {
    expect(formatBytes(-2048)).toBe('-2.00 KiB');
    expect(formatBytes(NaN)).toBe('—');
    expect(formatBytes(Infinity)).toBe('—');
  });
});

describe('formatDuration (ETA)', () => {
  it('picks the two largest units', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(59.6)).toBe('1 min 00 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatDuration(2 * 86400 + 3 * 3600 + 59)).toBe('2 d 3 h');
  });
  it('shows a dash when unknown', () => {
    expect(formatDuration(NaN)).toBe('—');
    expect(formatDuration(Infinity)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
  });
});

describe('formatCount', () => {
  it('abbreviates parameter counts', () => {
    expect(formatCount(999)).toBe('999');
    expect(formatCount(260_000)).toBe('260K');
    expect(formatCount(292_224)).toBe('292K');
    expect(formatCount(1_234_567)).toBe('1.23M');
    expect(formatCount(134_515_008)).toBe('135M');
    expect(formatCount(1_100_000_000)).toBe('1.1B');
    expect(formatCount(12_000_000)).toBe('12M');
  });
});

describe('formatInt, formatMetric, formatPercent', () => {
  it('formats integers with separators', () => {
    expect(formatInt(1234567)).toBe('1,234,567');
    expect(formatInt(NaN)).toBe('—');
  });
  it('formats metrics with 4 significant digits', () => {
    expect(formatMetric(2.345678)).toBe('2.346');
    expect(formatMetric(0.0001234)).toBe('1.23e-4');
    expect(formatMetric(0)).toBe('0');
    expect(formatMetric(undefined)).toBe('—');
    expect(formatMetric(NaN)).toBe('—');
    expect(formatMetric(Infinity)).toBe('∞');
  });
  it('formats percentages', () => {
    expect(formatPercent(1, 3)).toBe('33%');
    expect(formatPercent(1, 200)).toBe('0.5%');
    expect(formatPercent(0, 10)).toBe('0%');
    expect(formatPercent(1, 0)).toBe('—');
  });
});
