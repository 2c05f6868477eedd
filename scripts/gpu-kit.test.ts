// `npm run gpu-kit` and the kit's dry run, as they will run on the GPU machine: build the kit into
// a temp folder, run gpu-kit/run.sh --dry-run (Node and dawn.node unpacked from the kit, tiny
// shapes on SwiftShader, the PyTorch peer on the CPU) and check that the ONE JSON has every part
// with its figures; then a run whose Vulkan driver is missing records each part's error instead
// of stopping.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'whetstone-kit-test-'));
const kit = join(dir, 'kit');
const work = join(dir, 'work');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bytesIn(d: string): number {
  let n = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) n += e.isDirectory() ? bytesIn(join(d, e.name)) : statSync(join(d, e.name)).size;
  return n;
}

function runKit(args: string[], env: Record<string, string | undefined> = {}) {
  // the kit finds its own Vulkan driver (SwiftShader here): start without the test's settings
  const base = { ...process.env, KIT_WORK: work, VK_ICD_FILENAMES: undefined, VK_DRIVER_FILES: undefined, ...env };
  const clean = Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return spawnSync('bash', [join(kit, 'run.sh'), ...args], { env: clean, encoding: 'utf8', timeout: 400_000 });
}

describe('npm run gpu-kit', () => {
  it('builds a self-contained kit under 60 MiB whose dry run writes one JSON with every part', () => {
    execFileSync(process.execPath, [join(root, 'scripts', 'gpu-kit.mjs'), '--out', kit], { cwd: root, stdio: 'pipe', timeout: 600_000 });
    for (const f of ['run.sh', 'run.mjs', 'node.xz', 'manifest.json', 'README.txt', 'app/kit.mjs', 'app/node_modules/webgpu/index.js', 'app/node_modules/webgpu/dist/linux-x64/dawn.node.xz', 'lib/vulkan/libvulkan.so.1', 'torch/bench_torch.py', 'torch/lib/transformer.py']) {
      expect(existsSync(join(kit, f)), f).toBe(true);
    }
    expect(bytesIn(kit)).toBeLessThanOrEqual(60 * 2 ** 20);
    // the bundle needs nothing from node_modules but the webgpu package beside it
    const bundle = readFileSync(join(kit, 'app', 'kit.mjs'), 'utf8');
    const imports = [...bundle.matchAll(/^import\s.*?from\s+["']([^"']+)["']/gm), ...bundle.matchAll(/^import\s+["']([^"']+)["']/gm)].map((m) => m[1]);
    expect(imports.filter((s) => !s.startsWith('node:') && s !== 'webgpu')).toEqual([]);

    const out = join(dir, 'dry.json');
    const t0 = Date.now();
    const r = runKit(['--dry-run', '--out', out]);
    const seconds = (Date.now() - t0) / 1000;
    expect(r.status, r.stdout.slice(-3000) + r.stderr.slice(-2000)).toBe(0);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    expect(doc.kind).toBe('whetstone-gpu-kit');
    expect(doc.dryRun).toBe(true);
    // Node came out of the kit, not from this machine
    expect(doc.machine.node).toBe(process.version);
    expect(doc.machine.nodePath.startsWith(work)).toBe(true);
    // no GPU device here: run.sh chose SwiftShader itself (the test passed no Vulkan settings)
    expect(doc.machine.vulkan.WHETSTONE_KIT_VULKAN_DRIVER).toBe('swiftshader');
    expect(doc.machine.vulkan.WHETSTONE_KIT_VULKAN_LOADER).toBe('system');
    const ids = ['adapter', 'kernels', 'training:qwen2.5-0.5b-shape', 'training:smollm2-135m-shape', 'torch:qwen2.5-0.5b-shape:float32'];
    expect(Object.keys(doc.parts)).toEqual(ids);
    for (const id of ids) expect(doc.parts[id].ok, `${id}: ${doc.parts[id].error}`).toBe(true);
    // wall time seen by the orchestrator, and the node parts' own time inside their process
    for (const id of ids.slice(0, 4)) expect(doc.parts[id].seconds).toBeGreaterThanOrEqual(doc.parts[id].partSeconds);
    expect(doc.complete).toBe(true);
    expect(doc.parts.adapter.adapter.description.isSoftware).toBe(true);
    const k = doc.parts.kernels.result;
    expect(k.peakGflops).toBeGreaterThan(0);
    expect(k.matmul.length).toBe(1);
    expect(k.backward.length).toBe(2);
    expect(k.attention[0].bwdOverFwd).toBeGreaterThan(0);
    expect(k.lora.length).toBe(1);
    for (const shape of ['qwen2.5-0.5b-shape', 'smollm2-135m-shape']) {
      const t = doc.summary.training[shape];
      expect(t.tokensPerSecond).toBeGreaterThan(0);
      expect(t.commandsPerStep.submits).toBe(1);
      expect(t.commandsPerStep.passes).toBe(1);
      expect(t.decode.tokensPerSecond).toBeGreaterThan(0);
      expect(t.decode.commandsPerToken.dispatches).toBeGreaterThan(0);
    }
    expect(doc.summary.training['qwen2.5-0.5b-shape'].torch.float32.tokensPerSecond).toBeGreaterThan(0);
    expect(doc.parts['torch:qwen2.5-0.5b-shape:float32'].result.model).toBe('qwen2.5-0.5b-shape');
    expect(doc.summary.failed).toEqual([]);
    expect(doc.seconds).toBeLessThan(seconds + 1);
    // a fresh clone compresses Node first (about 2 minutes on 2 cores; cached afterwards)
  }, 900_000);

  it("the GPU machine's plan: both shapes trained, the CUDA peer in float32 and bfloat16 for both, limits within 8 minutes", () => {
    const script = `import(${JSON.stringify(join(root, 'scripts', 'gpu-kit-run.mjs'))}).then((m) => console.log(JSON.stringify({ budget: m.DEFAULT_BUDGET_S, parts: m.plan({ dryRun: false }) })))`;
    const { budget, parts } = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { budget: number; parts: { id: string; limitS: number; args: string[] }[] };
    expect(parts.map((p) => p.id)).toEqual(
      expect.arrayContaining(['adapter', 'kernels', 'training:qwen2.5-0.5b-shape', 'training:smollm2-135m-shape', 'torch:qwen2.5-0.5b-shape:bfloat16', 'torch:qwen2.5-0.5b-shape:float32', 'torch:smollm2-shape:bfloat16', 'torch:smollm2-shape:float32']),
    );
    for (const p of parts.filter((q) => q.id.startsWith('torch:'))) expect(p.args).toEqual(expect.arrayContaining(['--device', 'cuda', '--seq', '256', '--batch', '4', '--rank', '16']));
    // the budget caps the whole run (parts past it are recorded as not run); Node's unpacking and
    // the JSON take seconds: 8 minutes hold
    expect(budget).toBeLessThanOrEqual(460);
    for (const p of parts) expect(p.limitS).toBeLessThanOrEqual(budget);
    expect(parts.find((p) => p.id === 'training:qwen2.5-0.5b-shape')!.limitS).toBeGreaterThanOrEqual(100);
  });

  it('a part that cannot run is recorded with its error, and the others still run', () => {
    const out = join(dir, 'broken.json');
    const r = runKit(['--dry-run', '--only', 'adapter,torch', '--out', out], { VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(r.status).toBe(0);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    expect(doc.parts.adapter.ok).toBe(false);
    expect(doc.parts.adapter.error).toMatch(/WebGPU is not available|adapter/i);
    expect(doc.parts['torch:qwen2.5-0.5b-shape:float32'].ok).toBe(true);
    expect(doc.complete).toBe(false);
    expect(doc.summary.failed).toEqual(['adapter']);
  }, 300_000);
});
