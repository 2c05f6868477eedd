// `npm run export-recipe` for real: an `npm run finetune` run (20 steps, accumulation, label
// smoothing, evaluation) in a temporary profile, then the recipe of its output folder; the recipe's
// loop (whetstone_recipe.train, what train.py runs) in PyTorch with the repository's reference Llama
// reproduces the losses metrics.json recorded; train.py itself runs on the real Hugging Face stack
// (transformers + peft + accelerate from `npm run hf-stack`, CPU): in one process and as a 2-process
// DDP job under torchrun (gloo), each reproducing the studio's 20 losses, and its saved adapter reads
// back through the studio's PEFT import as the studio's adapter; the checkpoint start carries the
// AdamW moments.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSource } from '../io/byteSourceNode';
import { parsePeftConfig, readPeftAdapter } from '../io/peft';
import { hfBin, hfEnv, hfPython } from '../util/testing/hfStack';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'whetstone-recipe-cli-'));
const profile = join(tmp, 'profile');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join('scripts', script), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} did not end within 400 s:\n${stderr}`));
    }, 400_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

beforeAll(() => {
  if (!existsSync(join(ROOT, 'public/models/stories260K/config.json'))) {
    const r = spawnSync(process.execPath, ['scripts/demo-model.mjs'], { cwd: ROOT, stdio: 'inherit' });
    expect(r.status).toBe(0);
  }
});

describe('npm run export-recipe', () => {
  it('refuses bad arguments with exit 2 before Chromium starts', async () => {
    const none = await cli('export-recipe.mjs', ['--out', join(tmp, 'x')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--from OUT is required/);
    const empty = await cli('export-recipe.mjs', ['--from', tmp, '--out', join(tmp, 'x')]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no metrics\.json there/);
  });

  it("writes the recipe of a finetune run whose loop reproduces the run's losses", { timeout: 900_000 }, async () => {
    const out = join(tmp, 'run');
    const python = hfPython(); // fails first, with the fix, where `npm run hf-stack` has not run
    const ft = await cli('finetune.mjs', ['--profile', profile, '--steps', '20', '--grad-accum', '2', '--batch-size', '2', '--label-smoothing', '0.1', '--eval-every', '5', '--checkpoint-every', '10', '--out', out]);
    expect(ft.code, ft.stderr).toBe(0);
    const metrics = json(join(out, 'metrics.json'));
    expect(metrics.source).toEqual({ model: 'demo', data: 'demo', trainOn: 'completions' });

    const recipe = join(tmp, 'recipe');
    const ex = await cli('export-recipe.mjs', ['--from', out, '--out', recipe, '--repo-id', 'me/stories260K-hf']);
    expect(ex.code, ex.stderr).toBe(0);
    for (const f of ['train.py', 'whetstone_recipe.py', 'job.json', 'README.md', 'axolotl.yaml', 'accelerate_config.yaml', 'accelerate_multinode.yaml', 'data/train_batches.jsonl', 'data/eval_batches.jsonl', 'data/raw/sample.jsonl', 'initial_adapter/adapter_model.safetensors', 'initial_adapter/adapter_config.json']) {
      expect(existsSync(join(recipe, f)), f).toBe(true);
    }
    const job = json(join(recipe, 'job.json'));
    expect(job.base_model.repo_id).toBe('me/stories260K-hf');
    expect(job.studio_history.map((h: { loss: number }) => h.loss)).toEqual(metrics.steps.map((s: { loss: number }) => s.loss));
    expect(readFileSync(join(recipe, 'README.md'), 'utf8')).toContain('`me/stories260K-hf`');

    const r = spawnSync('/usr/bin/python3', [join(ROOT, 'src/train/recipe/testing/run_recipe_reference.py'), recipe, join(ROOT, 'public/models/stories260K'), ROOT], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    const py = JSON.parse(r.stdout).history as { step: number; loss: number; val_loss?: number }[];
    expect(py.length).toBe(metrics.steps.length);
    metrics.steps.forEach((s: { loss: number; valLoss?: number }, i: number) => {
      expect(Math.abs(py[i].loss - s.loss) / s.loss).toBeLessThan(1e-4);
      if (s.valLoss !== undefined) expect(Math.abs(py[i].val_loss! - s.valLoss) / s.valLoss).toBeLessThan(1e-4);
    });

    // train.py itself with transformers + peft + accelerate, one process, then DDP over 2 processes
    const trained = join(tmp, 'cluster-out');
    const base = join(ROOT, 'public/models/stories260K');
    const t = spawnSync(python, [join(recipe, 'train.py'), '--out', trained, '--base-model', base], { encoding: 'utf8', cwd: recipe, env: hfEnv() });
    expect(t.status, t.stderr + t.stdout).toBe(0);
    expect(t.stdout).toMatch(/step 20\/20 loss [0-9.]+ \(studio [0-9.]+, [-+]0\.00%\)/);
    const cm = json(join(trained, 'metrics.json'));
    expect(cm.status).toBe('finished');
    expect(cm.processes).toBe(1);
    expect(cm.steps.length).toBe(20);
    console.log(`train.py (transformers + peft, 1 process): max relative loss difference vs the studio over 20 steps ${cm.max_relative_loss_difference_vs_studio.toExponential(2)}`);
    expect(cm.max_relative_loss_difference_vs_studio).toBeLessThan(1e-4); // the issue asks 2%; float32 vs the studio's f32 kernels
    const ddpOut = join(tmp, 'cluster-ddp');
    const port = String(29500 + (process.pid % 400));
    const d = spawnSync(hfBin('torchrun'), ['--nproc_per_node', '2', '--master_port', port, join(recipe, 'train.py'), '--out', ddpOut, '--base-model', base], { encoding: 'utf8', cwd: recipe, env: hfEnv({ ACCELERATE_USE_CPU: 'true' }) });
    expect(d.status, d.stderr + d.stdout).toBe(0);
    const dm = json(join(ddpOut, 'metrics.json'));
    expect(dm.processes).toBe(2);
    expect(dm.steps.map((p: { step: number }) => p.step)).toEqual(cm.steps.map((p: { step: number }) => p.step));
    console.log(`train.py under torchrun (DDP, 2 processes, gloo): max relative loss difference vs the studio ${dm.max_relative_loss_difference_vs_studio.toExponential(2)}`);
    expect(dm.max_relative_loss_difference_vs_studio).toBeLessThan(1e-4);
    // the adapter it saved is the studio's run's adapter (to Adam's amplification of float rounding), and it reads as the studio's import reads it
    for (const [label, dir] of [['1-process', trained], ['DDP', ddpOut]] as const) {
      const peftConfig = parsePeftConfig(readFileSync(join(dir, 'adapter/adapter_config.json'), 'utf8'));
      const back = await readPeftAdapter(peftConfig, await fileSource(join(dir, 'adapter/adapter_model.safetensors')));
      const studio = await readPeftAdapter(parsePeftConfig(readFileSync(join(out, 'adapter_config.json'), 'utf8')), await fileSource(join(out, 'adapter_model.safetensors')));
      expect(back.adapters.map((a) => a.module).sort()).toEqual(studio.adapters.map((a) => a.module).sort());
      // compared as what an adapter does, B·A per module (single Adam-updated elements flip with float
      // rounding of near-zero gradients): the relative Frobenius distance over all modules
      const byModule = new Map(studio.adapters.map((a) => [a.module, a]));
      const rank = peftConfig.r;
      let diff2 = 0;
      let ref2 = 0;
      for (const a of back.adapters) {
        const s = byModule.get(a.module)!;
        const inF = a.a.length / rank;
        const outF = a.b.length / rank;
        for (let o = 0; o < outF; o++) {
          for (let i = 0; i < inF; i++) {
            let x = 0;
            let y = 0;
            for (let k = 0; k < rank; k++) {
              x += a.b[o * rank + k] * a.a[k * inF + i];
              y += s.b[o * rank + k] * s.a[k * inF + i];
            }
            diff2 += (x - y) ** 2;
            ref2 += y ** 2;
          }
        }
      }
      expect(ref2).toBeGreaterThan(0);
      console.log(`${label} adapter vs the studio's: |dBA| / |BA| = ${Math.sqrt(diff2 / ref2).toExponential(2)}`);
      expect(Math.sqrt(diff2 / ref2)).toBeLessThan(1e-3);
    }

    // from the run's last checkpoint: its adapter and AdamW moments
    const cont = join(tmp, 'recipe-ckpt');
    const ck = await cli('export-recipe.mjs', ['--from', out, '--out', cont, '--start', 'checkpoint']);
    expect(ck.code, ck.stderr).toBe(0);
    expect(json(join(cont, 'job.json')).start).toMatchObject({ from: 'checkpoint', step: 20 });
    expect(existsSync(join(cont, 'initial_adapter/optimizer_state.safetensors'))).toBe(true);
  });
});
