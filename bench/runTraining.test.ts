// The training bench's case list: the Qwen3 and Gemma 3 shapes are in it with their software
// batch and step counts, and --only picks them by prefix.
import { describe, expect, it } from 'vitest';
import { caseId, TORCH_PEERS, trainingCases } from './run-training.mjs';

describe('trainingCases', () => {
  it('Qwen3-0.6B and Gemma-3-270M shapes: all layers at 4 x 256, 2 layers at 1 x 64 on software, 1 + 2 steps, no decode, no PyTorch peer', () => {
    const cases = trainingCases({});
    expect(cases.map(caseId)).toEqual(['stories260K', 'stories260K-int8', 'stories260K-int4', 'smollm2-135m-shape', 'qwen3-0.6b-shape', 'gemma3-270m-shape']);
    for (const c of cases.slice(4)) {
      expect(c).toMatchObject({ layers: null, layersOnSoftware: 2, batchSize: 4, seqLen: 256, batchOnSoftware: { batchSize: 1, seqLen: 64 }, warmup: 1, steps: 2, decode: null });
      expect(TORCH_PEERS[c.model as keyof typeof TORCH_PEERS]).toBeUndefined();
    }
  });

  it('--only qwen3 / gemma3 picks one case', () => {
    expect(trainingCases({ only: 'qwen3' }).map((c) => c.model)).toEqual(['qwen3-0.6b-shape']);
    expect(trainingCases({ only: 'gemma3' }).map((c) => c.model)).toEqual(['gemma3-270m-shape']);
    expect(trainingCases({ quick: true, only: 'gemma3' })[0]).toMatchObject({ layers: 1, layersOnSoftware: 1, steps: 1 });
  });

  it('the demo model with an int8 and an int4 base (issue 17): the fp16 row\'s batch and steps; --only stories260K-int picks just those two', () => {
    const [fp16, int8, int4] = trainingCases({}) as Record<string, unknown>[];
    for (const q of [int8, int4]) expect({ ...q, quantize: undefined }).toEqual({ ...fp16, quantize: undefined });
    expect([fp16.quantize, int8.quantize, int4.quantize]).toEqual([undefined, 'int8', 'int4']);
    expect(trainingCases({ only: 'stories260K-int' }).map(caseId)).toEqual(['stories260K-int8', 'stories260K-int4']);
    expect(trainingCases({ only: 'stories260K-int4' }).map(caseId)).toEqual(['stories260K-int4']);
    expect(trainingCases({ only: 'stories' }).map(caseId)).toEqual(['stories260K', 'stories260K-int8', 'stories260K-int4']);
  });
});
