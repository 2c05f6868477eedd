import { describe, expect, it } from 'vitest';
import { numberToInput, parseNumberInput } from './parseNumber';

describe('parseNumberInput', () => {
  it('reads integers, decimals and exponents', () => {
    expect(parseNumberInput('8')).toBe(8);
    expect(parseNumberInput(' 0.05 ')).toBe(0.05);
    expect(parseNumberInput('.5')).toBe(0.5);
    expect(parseNumberInput('2e-3')).toBe(0.002);
    expect(parseNumberInput('1E4')).toBe(10000);
    expect(parseNumberInput('-1')).toBe(-1);
    expect(parseNumberInput('10_000')).toBe(10000);
  });
  it('gives NaN for empty or malformed text instead of 0', () => {
    expect(parseNumberInput('')).toBeNaN();
    expect(parseNumberInput('  ')).toBeNaN();
    expect(parseNumberInput('2e-')).toBeNaN();
    expect(parseNumberInput('abc')).toBeNaN();
    expect(parseNumberInput('0x10')).toBeNaN();
    expect(parseNumberInput('1,5')).toBeNaN();
  });
});

describe('numberToInput', () => {
  it('writes small rates in exponent form and others plainly', () => {
    expect(numberToInput(2e-3)).toBe('0.002');
    expect(numberToInput(1e-8)).toBe('1e-8');
    expect(numberToInput(2.5e-4)).toBe('2.5e-4');
    expect(numberToInput(0)).toBe('0');
    expect(numberToInput(16)).toBe('16');
    expect(numberToInput(NaN)).toBe('');
    expect(parseNumberInput(numberToInput(3e-5))).toBe(3e-5);
  });
});
