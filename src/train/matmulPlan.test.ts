import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../arch/config';
import { DEMO_MODEL_DIR, FIXTURES_DIR } from '../model/testing/loadForTest';
import { DEFAULT_CONFIG } from './config';
import { trainingMatmuls } from './matmulPlan';

const config = (dir: string) => parseHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));

describe('trainingMatmuls', () => {
  it('lists the forward, backward and decode classes of stories260K once each', () => {
    const c = config(DEMO_MODEL_DIR);
    const plan = trainingMatmuls(c, { ...DEFAULT_CONFIG, batchSize: 4, seqLen: 128 });
    const keys = plan.map((p) => p.key);
    expect(new Set(keys).size).toBe(keys.length);
    // every layer's q_proj forward is one problem: (512 rows) · (dim, dim)ᵀ
    const q = plan.find((p) => p.uses.includes('q_proj forward'))!;
    expect(q.shape).toMatchObject({ op: 'xwt', m: 512, n: c.numHeads * c.headDim, k: c.hiddenSize });
    expect(plan.some((p) => p.uses.includes('down_proj input grad'))).toBe(true);
    expect(plan.find((p) => p.uses.includes('LM head forward'))!.shape).toMatchObject({ n: c.vocabSize, k: c.hiddenSize });
    expect(plan.some((p) => p.uses.includes('LM head decode') && p.shape.m === 1)).toBe(true);
    // LoRA trains no base weight: no weight-gradient matmul
    expect(plan.some((p) => p.shape.op === 'dytx')).toBe(false);
    // fewer classes than problems: layers share them
    expect(plan.length).toBeLessThan(c.numLayers * 7 * 3);
  });

  it('full fine-tuning adds the weight gradients; GPT-2 names its projections', () => {
    const c = config(join(FIXTURES_DIR, 'tiny-gpt2'));
    const lora = trainingMatmuls(c, { ...DEFAULT_CONFIG, batchSize: 2, seqLen: 16 });
    const full = trainingMatmuls(c, { ...DEFAULT_CONFIG, method: 'full', batchSize: 2, seqLen: 16 });
    expect(full.filter((p) => p.shape.op === 'dytx').length).toBeGreaterThan(0);
    expect(full.length).toBeGreaterThan(lora.length);
    expect(lora.some((p) => p.uses.includes('c_attn forward'))).toBe(true);
    expect(lora.some((p) => p.uses.includes('LM head forward'))).toBe(true);
  });
});
