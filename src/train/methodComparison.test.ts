// The method comparison's rows: each method's job keeps the edited job's shape and gets the
// method's own settings, and its trainable parameters (from the memory estimate's AdamW state)
// are the method's own count, computed here from the model's shapes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../arch/config';
import { targetedModules } from '../model/adapter';
import { ia3Modules } from '../model/ia3';
import { prefixTableSize } from '../model/prefixTuning';
import { DEMO_MODEL_DIR } from '../model/testing/loadForTest';
import { DEFAULT_CONFIG, validateConfig, type TrainConfig } from './config';
import { estimateMemory, parameterCount } from './memory';
import { comparisonRow, METHOD_CHOICES, methodConfig } from './methodComparison';

const c = parseHfConfig(JSON.parse(readFileSync(join(DEMO_MODEL_DIR, 'config.json'), 'utf8')));
const JOB: TrainConfig = { ...DEFAULT_CONFIG, batchSize: 3, seqLen: 96, pack: true, lora: { ...DEFAULT_CONFIG.lora, rank: 4, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] } };

describe('method comparison', () => {
  it('every method keeps the job’s shape, gets its own settings, and is a valid job', () => {
    for (const m of METHOD_CHOICES) {
      const cfg = methodConfig(JOB, m.key);
      expect([cfg.batchSize, cfg.seqLen, cfg.lora.rank, cfg.lora.targetModules], m.key).toEqual([3, 96, 4, ['q_proj', 'v_proj']]);
      expect(cfg.method).toBe(m.method);
      expect(cfg.pack, m.key).toBe(m.key !== 'prompt' && m.key !== 'prefix');
      expect(!!cfg.lora.useDora, m.key).toBe(m.key === 'dora');
      expect(validateConfig(cfg), m.key).toEqual([]);
    }
    // DoRA needs dropout 0: the comparison's DoRA job has it, the job itself keeps its own
    expect(methodConfig(JOB, 'dora').lora.dropout).toBe(0);
    expect(JOB.lora.dropout).toBe(0.05);
  });

  it('trainable parameters are each method’s own count on the model', () => {
    const rows = Object.fromEntries(METHOD_CHOICES.map((m) => [m.key, comparisonRow(m, estimateMemory(c, methodConfig(JOB, m.key)))]));
    const lora = targetedModules(c, ['q_proj', 'v_proj']).reduce((s, m) => s + 4 * (m.inFeatures + m.outFeatures), 0);
    const dora = lora + targetedModules(c, ['q_proj', 'v_proj']).reduce((s, m) => s + m.outFeatures, 0);
    expect(rows.lora.trainableParams).toBe(lora);
    expect(rows.dora.trainableParams).toBe(dora);
    expect(rows.full.trainableParams).toBe(parameterCount(c));
    expect(rows.prompt.trainableParams).toBe(20 * c.hiddenSize);
    expect(rows.prefix.trainableParams).toBe(prefixTableSize(c, 20));
    expect(rows.ia3.trainableParams).toBe(ia3Modules(c).reduce((s, m) => s + m.size, 0));
    // Pfeiffer, reduction 16: one adapter per layer, down (C·r + r) and up (r·C + C)
    const r = Math.max(1, Math.floor(c.hiddenSize / 16));
    expect(rows.bottleneck.trainableParams).toBe(c.numLayers * (2 * c.hiddenSize * r + r + c.hiddenSize));
    for (const row of Object.values(rows)) expect(row.memoryBytes, row.key).toBeGreaterThan(0);
    // full fine-tuning needs the most memory, (IA)³ and prompt tuning the fewest parameters
    expect(rows.full.memoryBytes!).toBeGreaterThan(Math.max(...Object.values(rows).filter((x) => x.key !== 'full').map((x) => x.memoryBytes!)));
    expect(rows.ia3.trainableParams!).toBeLessThan(rows.lora.trainableParams!);
  });
});
