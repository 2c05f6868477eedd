// DoRA on the command line, end to end through the engine worker in headless Chromium: a 15-step
// --dora run on the sample dataset lowers the validation loss below the base model's (the same
// split and batches, from --eval-only), writes the PEFT DoRA adapter, and the GGUF it cannot have
// is a warning that points at the merged model.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensorsHeader } from '../io/safetensors';
import { bufferSource } from '../io/byteSource';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'whetstone-cli-dora-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function finetune(args: string[]) {
  const r = spawnSync(process.execPath, [join('scripts', 'finetune.mjs'), '--profile', join(tmp, 'profile'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 420_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

beforeAll(() => {
  if (!existsSync(join(ROOT, 'public/models/stories260K/config.json'))) {
    const r = spawnSync(process.execPath, ['scripts/demo-model.mjs'], { cwd: ROOT, stdio: 'inherit' });
    expect(r.status).toBe(0);
  }
});

describe('finetune --dora', () => {
  it('lowers the validation loss below the base model’s, writes PEFT DoRA files, and warns that GGUF has no DoRA', async () => {
    const base = finetune(['--eval-only', '--validation', '0.1', '--seq-len', '64', '--out', join(tmp, 'eval')]);
    expect(base.code, base.stderr).toBe(0);
    const baseLoss = json(join(tmp, 'eval', 'metrics.json')).evaluation.loss as number;

    const out = join(tmp, 'dora');
    const r = finetune(['--dora', '--steps', '15', '--seq-len', '64', '--validation', '0.1', '--eval-every', '15', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = json(join(out, 'metrics.json'));
    expect(m.config.lora).toMatchObject({ useDora: true, dropout: 0 });
    const last = m.steps.at(-1) as { step: number; valLoss: number };
    expect(last.step).toBe(15);
    console.log(`DoRA CLI: validation loss ${baseLoss.toFixed(4)} (base) -> ${last.valLoss.toFixed(4)} after 15 steps`);
    expect(last.valLoss).toBeLessThan(baseLoss - 0.02);

    expect(json(join(out, 'adapter_config.json'))).toMatchObject({ peft_type: 'LORA', use_dora: true, r: 8, lora_alpha: 16 });
    const h = await readSafetensorsHeader(bufferSource(new Uint8Array(readFileSync(join(out, 'adapter_model.safetensors')))));
    const mags = h.tensors.filter((t) => t.name.endsWith('.lora_magnitude_vector'));
    expect(mags.length).toBe(h.tensors.length / 3);
    expect(mags.find((t) => t.name === 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector')?.shape).toEqual([64]);
    expect(r.stderr).toMatch(/warning: GGUF export not written: .*no DoRA magnitude.*Export the merged model instead/);
  }, 900_000);
});
