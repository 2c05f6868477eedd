import { describe, expect, it } from 'vitest';
import { repoIdProblem } from './hub';

describe('repoIdProblem', () => {
  it('accepts owner/name ids', () => {
    expect(repoIdProblem('HuggingFaceTB/SmolLM2-135M')).toBeNull();
    expect(repoIdProblem(' openai-community/gpt2 ')).toBeNull();
    expect(repoIdProblem('Qwen/Qwen2.5-0.5B-Instruct')).toBeNull();
  });
  it('explains what is wrong with anything else', () => {
    expect(repoIdProblem('')).toMatch(/Enter a repo id/);
    expect(repoIdProblem('gpt2')).toMatch(/owner\/name/);
    expect(repoIdProblem('https://huggingface.co/gpt2')).toMatch(/not the page address/);
    expect(repoIdProblem('a/b/c')).toMatch(/not a repo id/);
    expect(repoIdProblem('../etc')).toMatch(/not a repo id/);
    expect(repoIdProblem('a/..')).toMatch(/not a repo id/);
  });
});
