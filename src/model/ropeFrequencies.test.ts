// scaledInvFreq against HF's inv_freq (reference/arch_fixtures.py -> fixtures/rope_inv_freq.json,
// computed with modeling_rope_utils' formulas in torch float32), and the parsing of rope_scaling.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HfConfigError } from '../io/hfConfig';
import { parseHfConfig } from '../arch/config';
import { scaledInvFreq } from './ropeFrequencies';
import { FIXTURES_DIR } from './testing/loadForTest';

interface RopeCase {
  name: string;
  config: { rope_theta: number; max_position_embeddings?: number; rope_scaling?: Record<string, unknown> };
  D: number;
  seqLen: number;
  invFreq: number[];
}

const llamaConfig = (extra: object) => ({
  architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 1,
  vocab_size: 32, max_position_embeddings: 2048, ...extra,
});

describe('scaledInvFreq against HF (torch float32)', () => {
  const fx = JSON.parse(readFileSync(join(FIXTURES_DIR, 'rope_inv_freq.json'), 'utf8')) as { cases: RopeCase[] };

  it.each(fx.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    // the same parser the loader uses turns the config into the scaling
    const cfg = parseHfConfig(llamaConfig({ hidden_size: c.D, rope_theta: c.config.rope_theta, max_position_embeddings: c.config.max_position_embeddings ?? 2048, rope_scaling: c.config.rope_scaling ?? null }));
    const got = scaledInvFreq(cfg.ropeTheta!, c.D, cfg.rope!, c.seqLen);
    expect(got.length).toBe(c.D / 2);
    // torch's float32 pow is not always correctly rounded: allow a few ulp (relative 3e-7)
    for (let i = 0; i < c.D / 2; i++) {
      const want = Math.fround(c.invFreq[i]);
      expect(Math.abs(got[i] - want), `${c.name} inv_freq[${i}] = ${got[i]}, HF ${want}`).toBeLessThanOrEqual(3e-7 * want);
    }
  });

  it('llama3 really rescales: low frequencies / factor, high ones kept', () => {
    const cfg = parseHfConfig(llamaConfig({ hidden_size: 128, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }));
    const plain = scaledInvFreq(500000, 128, { type: 'default' });
    const scaled = scaledInvFreq(500000, 128, cfg.rope!);
    expect(scaled[0]).toBe(plain[0]);
    expect(scaled[63]).toBe(Math.fround(plain[63] / 8));
    // dynamic keeps the default frequencies up to max_position_embeddings
    const dyn = { type: 'dynamic' as const, factor: 2, maxPositions: 2048 };
    expect(scaledInvFreq(10000, 64, dyn, 2048)).toEqual(scaledInvFreq(10000, 64, { type: 'default' }));
    expect(scaledInvFreq(10000, 64, dyn, 4096)[31]).toBeLessThan(scaledInvFreq(10000, 64, { type: 'default' })[31]);
  });
});

describe('rope_scaling parsing', () => {
  it('reads linear, dynamic and llama3 (rope_type or the older "type")', () => {
    expect(parseHfConfig(llamaConfig({ rope_scaling: { type: 'linear', factor: 4 } })).rope).toEqual({ type: 'linear', factor: 4 });
    expect(parseHfConfig(llamaConfig({ rope_scaling: { rope_type: 'dynamic', factor: 2 } })).rope).toEqual({ type: 'dynamic', factor: 2, maxPositions: 2048 });
    expect(parseHfConfig(llamaConfig({ rope_scaling: null })).rope).toEqual({ type: 'default' });
  });

  it('refuses other rope types by name, and incomplete llama3 settings', () => {
    for (const type of ['yarn', 'longrope', 'ntk', 'su']) {
      const f = () => parseHfConfig(llamaConfig({ rope_scaling: { rope_type: type, factor: 4, original_max_position_embeddings: 32768 } }), 'm/config.json');
      expect(f).toThrow(HfConfigError);
      expect(f).toThrow(new RegExp(`^m/config.json: rope_scaling asks for rope_type "${type}", which Whetstone does not implement \\(it applies default, linear, dynamic, llama3\\)`));
    }
    expect(() => parseHfConfig(llamaConfig({ rope_scaling: { rope_type: 'llama3', factor: 8 } }))).toThrow(/rope_scaling "low_freq_factor" must be a positive number for rope_type "llama3", got undefined/);
    expect(() => parseHfConfig(llamaConfig({ rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 } }))).toThrow(/"high_freq_factor" \(1\) must be greater than "low_freq_factor" \(4\)/);
    expect(() => parseHfConfig(llamaConfig({ rope_scaling: { rope_type: 'linear' } }))).toThrow(/rope_scaling "factor" must be a positive number/);
  });
});
