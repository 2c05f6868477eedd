import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, validateConfig, withPreset } from '../../train/config';
import { getField, issuesByField, matchingPreset, plannedSteps, setField, setPromptTuning } from './configEdit';

describe('setField / getField', () => {
  it('edits top-level and LoRA fields without mutating the input', () => {
    const a = setField(DEFAULT_CONFIG, 'rank', 16);
    expect(a.lora.rank).toBe(16);
    expect(DEFAULT_CONFIG.lora.rank).toBe(8);
    const b = setField(a, 'learningRate', 1e-4);
    expect(getField(b, 'learningRate')).toBe(1e-4);
    expect(getField(b, 'rank')).toBe(16);
  });
});

describe('issuesByField', () => {
  it('attaches validation messages to fields, betas to both', () => {
    const bad = setField(setField(setField(DEFAULT_CONFIG, 'rank', NaN), 'beta2', 1), 'learningRate', 0);
    const issues = issuesByField(validateConfig(bad));
    expect(issues.rank).toMatch(/Rank/);
    expect(issues.learningRate).toMatch(/Learning rate/);
    expect(issues.beta1).toMatch(/Betas/);
    expect(issues.beta2).toMatch(/Betas/);
    expect(issues.alpha).toBeUndefined();
  });
});

describe('setPromptTuning', () => {
  it('fills in the defaults and reports prompt-tuning issues under their own names', () => {
    const prompt = setPromptTuning({ ...DEFAULT_CONFIG, method: 'prompt' }, { init: 'text' });
    expect(prompt.promptTuning).toEqual({ numVirtualTokens: 20, init: 'text' });
    const issues = issuesByField(validateConfig(setPromptTuning(prompt, { numVirtualTokens: 0 })));
    expect(issues.numVirtualTokens).toMatch(/Virtual tokens/);
    expect(issues.initText).toMatch(/init text/);
    expect(issues.pack).toMatch(/packing off/);
    expect(issuesByField(validateConfig(setPromptTuning({ ...prompt, pack: false }, { numVirtualTokens: 8, initText: 'Answer about Bob.' })))).toEqual({});
  });
});

describe('matchingPreset', () => {
  it('recognises a config at a preset and notices edits', () => {
    const q = withPreset(DEFAULT_CONFIG, 'quick');
    expect(matchingPreset(q)).toBe('quick');
    expect(matchingPreset(withPreset(q, 'thorough'))).toBe('thorough');
    expect(matchingPreset(setField(q, 'rank', 5))).toBeNull();
  });
});

describe('plannedSteps', () => {
  it('uses max steps, or epochs over the training sequences', () => {
    expect(plannedSteps(DEFAULT_CONFIG, null)).toBe(60);
    const byEpochs = { ...DEFAULT_CONFIG, maxSteps: 0, epochs: 2, batchSize: 4, gradAccumulation: 2 };
    expect(plannedSteps(byEpochs, 100)).toBe(25);
    expect(plannedSteps(byEpochs, 3)).toBe(1);
    expect(plannedSteps(byEpochs, null)).toBeNull();
  });
});
