// npm run finetune -- --model <dir|demo> --data <file|demo> --steps N --out <dir> [hyperparameters]
// Fine-tunes with LoRA through the studio's engine worker in headless Chromium (the software
// adapter here, a real GPU where there is one) and writes the PEFT adapter, the llama.cpp GGUF
// and metrics.json into --out. With no arguments: the demo model on the bundled sample dataset.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { endProgress, progressLine, startBrowserEngine } from './lib/browserEngine.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'demo' },
    data: { type: 'string', default: 'demo' },
    steps: { type: 'string', default: '30' },
    out: { type: 'string', default: 'out/demo' },
    rank: { type: 'string', default: '8' },
    alpha: { type: 'string', default: '16' },
    dropout: { type: 'string', default: '0' },
    targets: { type: 'string', default: 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj' },
    rslora: { type: 'boolean', default: false },
    lr: { type: 'string', default: '3e-3' },
    schedule: { type: 'string', default: 'cosine' },
    warmup: { type: 'string', default: '3' },
    'batch-size': { type: 'string', default: '4' },
    'seq-len': { type: 'string', default: '128' },
    'grad-accum': { type: 'string', default: '1' },
    'weight-decay': { type: 'string', default: '0' },
    'max-grad-norm': { type: 'string', default: '1' },
    'label-smoothing': { type: 'string', default: '0' },
    seed: { type: 'string', default: '42' },
    checkpointing: { type: 'boolean', default: false },
    'eval-every': { type: 'string', default: '10' },
    'train-on': { type: 'string', default: 'completions' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'usage: npm run finetune -- --model <dir|demo> --data <file|demo> --steps N --out <dir>\n' +
      '  [--rank 8] [--alpha 16] [--dropout 0] [--targets q_proj,v_proj,...] [--rslora] [--lr 3e-3]\n' +
      '  [--schedule constant|linear|cosine] [--warmup 3] [--batch-size 4] [--seq-len 128] [--grad-accum 1]\n' +
      '  [--weight-decay 0] [--max-grad-norm 1] [--label-smoothing 0] [--seed 42] [--checkpointing] [--eval-every 10]',
  );
  process.exit(0);
}
if (values.model === 'demo' && !existsSync('public/models/stories260K/config.json')) {
  const r = spawnSync(process.execPath, ['scripts/demo-model.mjs'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const num = (k) => {
  const v = Number(values[k]);
  if (!Number.isFinite(v)) throw new Error(`--${k} must be a number, got ${values[k]}`);
  return v;
};
const config = {
  method: 'lora',
  lora: { rank: num('rank'), alpha: num('alpha'), dropout: num('dropout'), targetModules: values.targets.split(',').map((s) => s.trim()).filter(Boolean), useRslora: values.rslora },
  learningRate: num('lr'),
  schedule: values.schedule,
  warmupSteps: num('warmup'),
  maxSteps: num('steps'),
  epochs: 1,
  batchSize: num('batch-size'),
  gradAccumulation: num('grad-accum'),
  seqLen: num('seq-len'),
  pack: true,
  weightDecay: num('weight-decay'),
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  maxGradNorm: num('max-grad-norm'),
  labelSmoothing: num('label-smoothing'),
  seed: num('seed'),
  activationCheckpointing: values.checkpointing,
  evalEvery: num('eval-every'),
  checkpointEvery: 0,
  validationFraction: 0.05,
};

const host = await startBrowserEngine();
const outDir = resolve(values.out);
try {
  const { page } = host;
  const dirFiles = (dir) => readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile()).map((f) => ({ name: f, url: host.serveFile(join(dir, f)) }));
  const modelFiles = values.model === 'demo' ? null : dirFiles(resolve(values.model));
  const dataFile = values.data === 'demo' ? null : { name: basename(values.data), url: host.serveFile(resolve(values.data)) };
  const status = await page.evaluate(() => window.whetstoneCli.engine.init());
  if (status.state !== 'ready') throw new Error(status.error);
  const adapterDescription = status.adapter;
  process.stderr.write(`[whetstone] GPU: ${adapterDescription.name}${adapterDescription.isSoftware ? ' (software adapter)' : ''}\n`);
  await page.exposeFunction('cliProgress', (p) => {
    const eta = Number.isFinite(p.etaSeconds) ? `${Math.round(p.etaSeconds)}s` : '?';
    const val = p.valLoss !== undefined ? ` val ${p.valLoss.toFixed(3)}` : '';
    progressLine('train', p.step / p.totalSteps, `step ${p.step}/${p.totalSteps} loss ${p.loss.toFixed(4)}${val} lr ${p.lr.toExponential(1)} ${Math.round(p.tokensPerSecond)} tok/s ETA ${eta}`);
  });
  await page.exposeFunction('cliLoad', (p) => {
    if (p.bytesTotal) progressLine(p.phase === 'download' ? 'download' : 'load', p.bytesDone / p.bytesTotal, p.file ?? '');
  });
  const info = await page.evaluate(async (mf) => {
    const cli = window.whetstoneCli;
    const onProgress = cli.proxy((p) => window.cliLoad(p));
    if (!mf) return cli.engine.loadModel({ kind: 'demo' }, onProgress);
    return cli.engine.loadModel({ kind: 'files', files: await Promise.all(mf.map((f) => cli.fileFromUrl(f.url, f.name))) }, onProgress);
  }, modelFiles);
  endProgress();
  process.stderr.write(`[whetstone] model: ${info.name} (${info.hfArchitecture}, ${(info.parameterCount / 1e6).toFixed(2)}M parameters)\n`);
  const ds = await page.evaluate(async ({ df, cfg, trainOn }) => {
    const cli = window.whetstoneCli;
    const source = df ? { kind: 'file', file: await cli.fileFromUrl(df.url, df.name) } : { kind: 'sample' };
    return cli.engine.loadDataset(source, { maxSeqLen: cfg.seqLen, trainOn, onBadRow: 'skip', validationFraction: cfg.validationFraction, seed: cfg.seed });
  }, { df: dataFile, cfg: config, trainOn: values['train-on'] });
  process.stderr.write(
    `[whetstone] data: ${ds.name}: ${ds.format.name}, ${ds.stats.examples} examples (${ds.trainExamples} train / ${ds.validationExamples} validation), ` +
      `${ds.stats.tokens} tokens, ${ds.stats.trainedTokens} trained${ds.badRows.length ? `, ${ds.badRows.length} bad rows skipped` : ''}\n`,
  );
  for (const w of ds.warnings) process.stderr.write(`[whetstone] warning: ${w}\n`);
  const est = await page.evaluate((cfg) => window.whetstoneCli.engine.estimate(cfg), config);
  process.stderr.write(`[whetstone] memory estimate: ${(est.totalBytes / 2 ** 20).toFixed(1)} MiB\n`);
  const summary = await page.evaluate(async (cfg) => {
    const cli = window.whetstoneCli;
    return cli.engine.startTraining(cfg, cli.proxy({ onProgress: (p) => window.cliProgress(p), onStatus: () => {} }), 'cli');
  }, config);
  endProgress();
  const peft = await page.evaluate(async () => (await window.whetstoneCli.engine.exportPeft()).map((f) => ({ name: f.name, bytes: Array.from(f.bytes) })));
  const gguf = await page.evaluate(async () => {
    const f = await window.whetstoneCli.engine.exportGguf();
    return { name: f.name, bytes: Array.from(f.bytes) };
  });
  mkdirSync(outDir, { recursive: true });
  for (const f of [...peft, gguf]) writeFileSync(join(outDir, f.name), Uint8Array.from(f.bytes));
  const history = summary.history;
  const metrics = {
    config,
    model: info,
    dataset: { name: ds.name, format: ds.format.name, stats: ds.stats },
    adapter: adapterDescription,
    steps: history.map((h) => ({ step: h.step, loss: h.loss, lr: h.lr, gradNorm: h.gradNorm, tokensPerSecond: h.tokensPerSecond, valLoss: h.valLoss })),
    firstLoss: history[0]?.loss,
    lastLoss: history.at(-1)?.loss,
    tokensPerSecond: history.at(-1)?.tokensPerSecond,
  };
  writeFileSync(join(outDir, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  process.stderr.write(`[whetstone] loss ${metrics.firstLoss?.toFixed(4)} -> ${metrics.lastLoss?.toFixed(4)} over ${history.length} steps\n`);
  process.stderr.write(`[whetstone] wrote ${[...peft, gguf].map((f) => f.name).join(', ')}, metrics.json to ${outDir}\n`);
} catch (e) {
  endProgress();
  process.stderr.write(`[whetstone] error: ${String(e.message).split('\n')[0]}\n`);
  process.exitCode = 1;
} finally {
  await host.close();
}
