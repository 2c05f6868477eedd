// The Hugging Face stack (transformers + peft + accelerate on CPU PyTorch) that `npm run hf-stack`
// installs in .hf-venv/: tests run the real consumers of our exports there. Missing, a test fails
// with the command that installs it (never skips: .ci/run installs it before `npm test`).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Path of .hf-venv's python, or throws saying how to install it. */
export function hfPython(): string {
  const py = process.env.WHETSTONE_HF_PYTHON ?? join(ROOT, '.hf-venv', 'bin', 'python');
  if (!existsSync(py)) {
    throw new Error(`${py} is missing: this test runs the real Hugging Face stack (transformers, peft, accelerate). Run \`npm run hf-stack\` once (it installs them into .hf-venv/), or point WHETSTONE_HF_PYTHON at a python that has them.`);
  }
  return py;
}

/** The same venv's bin/ (accelerate, torchrun). */
export function hfBin(tool: string): string {
  return join(hfPython(), '..', tool);
}

/** Environment for those processes: offline (the files are local; no Hub lookups), no .pyc litter. */
export function hfEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1', ...extra };
}
