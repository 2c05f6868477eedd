// LoRA+ on the command line: --lora-plus-ratio is checked before Chromium starts, and a LoRA+ run
// trains through the engine, records its ratio in metrics.json and writes a plain LoRA adapter
// (LoRA+ changes only the optimizer's learning rate for B).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'whetstone-cli-loraplus-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function finetune(args: string[]) {
  const r = spawnSync(process.execPath, [join('scripts', 'finetune.mjs'), '--profile', join(tmp, 'profile'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 200_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

beforeAll(() => {
  if (!existsSync(join(ROOT, 'public/models/stories260K/config.json'))) {
    const r = spawnSync(process.execPath, ['scripts/demo-model.mjs'], { cwd: ROOT, stdio: 'inherit' });
    expect(r.status).toBe(0);
  }
});

describe('finetune --lora-plus / --lora-plus-ratio', () => {
  it('a ratio below 1 or not a number exits 2 naming the flag', () => {
    for (const bad of ['0.5', 'x']) {
      const r = finetune(['--lora-plus-ratio', bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/error: --lora-plus-ratio must be a number from 1 to 1024 \(try 16\)/);
    }
  });

  it('a LoRA+ run trains, records the ratio and writes a plain LoRA adapter', () => {
    const out = join(tmp, 'plus');
    const r = finetune(['--lora-plus-ratio', '4', '--steps', '4', '--eval-every', '0', '--export', 'peft', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = json(join(out, 'metrics.json'));
    expect(m.config.lora).toMatchObject({ useLoraPlus: true, loraPlusRatio: 4 });
    expect(m.steps).toHaveLength(4);
    expect(m.steps.every((s: { loss: number }) => Number.isFinite(s.loss))).toBe(true);
    const cfg = json(join(out, 'adapter_config.json'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16 });
    expect(JSON.stringify(cfg)).not.toMatch(/plus/i);
  }, 210_000);
});
