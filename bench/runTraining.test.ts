// The training bench's case list: the Qwen3 and Gemma 3 shapes are in it with their software
// batch and step counts, and --only picks them by prefix.
import { describe, expect, it } from 'vitest';
import { TORCH_PEERS, trainingCases } from './run-training.mjs';

describe('trainingCases', () => {
  it('Qwen3-0.6B and Gemma-3-270M shapes: all layers at 4 x 256, 2 layers at 1 x 64 on software, 1 + 2 steps, no decode, no PyTorch peer', () => {
    const cases = trainingCases({});
    expect(cases.map((c) => c.model)).toEqual(['stories260K', 'smollm2-135m-shape', 'qwen3-0.6b-shape', 'gemma3-270m-shape']);
    for (const c of cases.slice(2)) {
      expect(c).toMatchObject({ layers: null, layersOnSoftware: 2, batchSize: 4, seqLen: 256, batchOnSoftware: { batchSize: 1, seqLen: 64 }, warmup: 1, steps: 2, decode: null });
      expect(TORCH_PEERS[c.model as keyof typeof TORCH_PEERS]).toBeUndefined();
    }
  });

  it('--only qwen3 / gemma3 picks one case', () => {
    expect(trainingCases({ only: 'qwen3' }).map((c) => c.model)).toEqual(['qwen3-0.6b-shape']);
    expect(trainingCases({ only: 'gemma3' }).map((c) => c.model)).toEqual(['gemma3-270m-shape']);
    expect(trainingCases({ quick: true, only: 'gemma3' })[0]).toMatchObject({ layers: 1, layersOnSoftware: 1, steps: 1 });
  });
});
