// (IA)³, bottleneck adapters and prefix tuning on the command line, end to end through the engine worker in
// headless Chromium: each 15-step run on the sample dataset lowers the validation loss below the
// base model's (same split, from --eval-only), writes its adapter files (PEFT IA3; the AdapterHub
// adapters library's files for bottleneck; PEFT PREFIX_TUNING), and an export the method cannot have is a warning
// that names the reason; a bad --reduction-factor is a usage error naming the fix.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../io/safetensors';
import { bufferSource } from '../io/byteSource';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'whetstone-cli-methods-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function finetune(args: string[]) {
  const r = spawnSync(process.execPath, [join('scripts', 'finetune.mjs'), '--profile', join(tmp, 'profile'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 420_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const header = async (path: string) => readSafetensorsHeader(bufferSource(new Uint8Array(readFileSync(path))));

let baseLoss = NaN;
beforeAll(() => {
  if (!existsSync(join(ROOT, 'public/models/stories260K/config.json'))) {
    const r = spawnSync(process.execPath, ['scripts/demo-model.mjs'], { cwd: ROOT, stdio: 'inherit' });
    expect(r.status).toBe(0);
  }
  const base = finetune(['--eval-only', '--validation', '0.1', '--seq-len', '64', '--out', join(tmp, 'eval')]);
  expect(base.code, base.stderr).toBe(0);
  baseLoss = json(join(tmp, 'eval', 'metrics.json')).evaluation.loss as number;
}, 300_000);

const COMMON = ['--steps', '15', '--seq-len', '64', '--validation', '0.1', '--eval-every', '15'];

describe('finetune --method ia3|bottleneck|prefix', () => {
  it('(IA)³: lowers the validation loss, writes PEFT IA3, warns that GGUF has no (IA)³', async () => {
    const out = join(tmp, 'ia3');
    const r = finetune(['--method', 'ia3', ...COMMON, '--export', 'peft,gguf', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = json(join(out, 'metrics.json'));
    expect(m.config).toMatchObject({ method: 'ia3', learningRate: 2e-2 });
    const last = m.steps.at(-1) as { step: number; valLoss: number };
    console.log(`(IA)³ CLI: validation loss ${baseLoss.toFixed(4)} (base) -> ${last.valLoss.toFixed(4)} after 15 steps`);
    expect(last.step).toBe(15);
    expect(last.valLoss).toBeLessThan(baseLoss - 0.01);
    expect(json(join(out, 'adapter_config.json'))).toMatchObject({ peft_type: 'IA3', target_modules: ['k_proj', 'v_proj', 'down_proj'], feedforward_modules: ['down_proj'] });
    const h = await header(join(out, 'adapter_model.safetensors'));
    expect(h.tensors.length).toBe(15);
    expect(h.byName.get('base_model.model.model.layers.4.self_attn.k_proj.ia3_l')?.shape).toEqual([32, 1]);
    expect(r.stderr).toMatch(/warning: GGUF export not written: .*\(IA\)³/);
  }, 900_000);

  it('bottleneck (Houlsby, reduction 8): lowers the validation loss, writes the adapters-library files, warns that there is no merged model', async () => {
    const out = join(tmp, 'bottleneck');
    const r = finetune(['--method', 'bottleneck', '--bottleneck', 'houlsby', '--reduction-factor', '8', ...COMMON, '--export', 'peft,merged', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = json(join(out, 'metrics.json'));
    expect(m.config).toMatchObject({ method: 'bottleneck', bottleneck: { variant: 'houlsby', reductionFactor: 8 } });
    const last = m.steps.at(-1) as { step: number; valLoss: number };
    console.log(`bottleneck CLI: validation loss ${baseLoss.toFixed(4)} (base) -> ${last.valLoss.toFixed(4)} after 15 steps`);
    expect(last.valLoss).toBeLessThan(baseLoss - 0.01);
    expect(json(join(out, 'adapter_config.json'))).toMatchObject({ hidden_size: 64, config: { architecture: 'bottleneck', mh_adapter: true, output_adapter: true, reduction_factor: 8 } });
    const h = await header(join(out, 'adapter.safetensors'));
    expect(h.tensors.length).toBe(5 * 2 * 4);
    expect(existsSync(join(out, 'merged'))).toBe(false);
    expect(r.stderr).toMatch(/warning: merged model export not written: .*cannot be merged into the weights/);
  }, 900_000);

  it('prefix tuning (text init): lowers the validation loss, writes PEFT PREFIX_TUNING, warns that there is no GGUF', async () => {
    const out = join(tmp, 'prefix');
    const r = finetune(['--method', 'prefix', '--virtual-tokens', '8', ...COMMON, '--export', 'peft,gguf', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = json(join(out, 'metrics.json'));
    expect(m.config).toMatchObject({ method: 'prefix', pack: false, learningRate: 1e-1, prefixTuning: { numVirtualTokens: 8, init: 'text' } });
    const last = m.steps.at(-1) as { step: number; valLoss: number };
    console.log(`prefix CLI: validation loss ${baseLoss.toFixed(4)} (base) -> ${last.valLoss.toFixed(4)} after 15 steps`);
    expect(last.valLoss).toBeLessThan(baseLoss - 0.01);
    expect(json(join(out, 'adapter_config.json'))).toMatchObject({ peft_type: 'PREFIX_TUNING', num_virtual_tokens: 8, token_dim: 32, num_attention_heads: 4, num_layers: 5, prefix_projection: false });
    const h = await header(join(out, 'adapter_model.safetensors'));
    expect(h.byName.get('prompt_embeddings')?.shape).toEqual([8, 5 * 2 * 32]);
    expect(r.stderr).toMatch(/warning: GGUF export not written: .*no GGUF or merged export/);
  }, 900_000);

  it('prefix tuning through its MLP (--prefix-projection): random start, LoRA-sized lr, lowers the validation loss, exports the table it produces', async () => {
    const out = join(tmp, 'prefix-mlp');
    const r = finetune(['--method', 'prefix', '--prefix-projection', '--virtual-tokens', '8', ...COMMON, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = json(join(out, 'metrics.json'));
    expect(m.config).toMatchObject({ method: 'prefix', learningRate: 5e-3, prefixTuning: { numVirtualTokens: 8, init: 'random', projection: true } });
    const last = m.steps.at(-1) as { step: number; valLoss: number };
    console.log(`prefix MLP CLI: validation loss ${baseLoss.toFixed(4)} (base) -> ${last.valLoss.toFixed(4)} after 15 steps`);
    expect(last.valLoss).toBeLessThan(baseLoss - 0.01);
    expect(json(join(out, 'adapter_config.json'))).toMatchObject({ peft_type: 'PREFIX_TUNING', num_virtual_tokens: 8 });
    const h = await header(join(out, 'adapter_model.safetensors'));
    expect(h.byName.get('prompt_embeddings')?.shape).toEqual([8, 5 * 2 * 32]);
  }, 900_000);

  it('a bad --reduction-factor, --bottleneck or --prefix-init is a usage error that says what to pass', () => {
    const r = finetune(['--method', 'bottleneck', '--reduction-factor', '0', '--steps', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--reduction-factor must be a number from 1 to 4096 \(try 16\), got "0"/);
    const v = finetune(['--method', 'bottleneck', '--bottleneck', 'lora', '--steps', '1']);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/--bottleneck must be one of pfeiffer, houlsby, got "lora"/);
    const pi = finetune(['--method', 'prefix', '--prefix-init', 'zeros', '--steps', '1']);
    expect(pi.code).toBe(2);
    expect(pi.stderr).toMatch(/--prefix-init must be one of text, random, got "zeros"/);
  });
});
