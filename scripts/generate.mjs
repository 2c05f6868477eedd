// npm run generate -- --model <dir|demo> --prompt "..." --max-tokens N [--greedy] [--adapter <dir>]
//   [--temperature T] [--top-k K] [--top-p P] [--seed S] [--chat]
// Runs the studio's engine worker in headless Chromium and streams the generated text.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { startBrowserEngine } from './lib/browserEngine.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'demo' },
    prompt: { type: 'string', default: 'Once upon a time' },
    'max-tokens': { type: 'string', default: '64' },
    greedy: { type: 'boolean', default: false },
    adapter: { type: 'string' },
    temperature: { type: 'string', default: '0.8' },
    'top-k': { type: 'string', default: '40' },
    'top-p': { type: 'string', default: '0.95' },
    seed: { type: 'string', default: '0' },
    chat: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run generate -- --model <dir|demo> --prompt "..." --max-tokens N [--greedy] [--adapter <dir>] [--chat]');
  process.exit(0);
}

if (values.model === 'demo' && !existsSync('public/models/stories260K/config.json')) {
  const r = spawnSync(process.execPath, ['scripts/demo-model.mjs'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const host = await startBrowserEngine();
try {
  const { page } = host;
  const files = (dir) => {
    const abs = resolve(dir);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new Error(`${dir} is not a directory`);
    return readdirSync(abs).filter((f) => statSync(join(abs, f)).isFile()).map((f) => ({ name: f, url: host.serveFile(join(abs, f)) }));
  };
  const modelFiles = values.model === 'demo' ? null : files(values.model);
  const adapterFiles = values.adapter ? files(values.adapter).filter((f) => /^adapter_(model\.safetensors|config\.json)$/.test(f.name)) : null;
  await page.exposeFunction('cliToken', (text) => process.stdout.write(text));
  const status = await page.evaluate(() => window.whetstoneCli.engine.init());
  if (status.state !== 'ready') throw new Error(status.error);
  process.stderr.write(`[whetstone] GPU: ${status.adapter.name}${status.adapter.isSoftware ? ' (software)' : ''}\n`);
  const info = await page.evaluate(async (mf) => {
    const cli = window.whetstoneCli;
    if (!mf) return cli.engine.loadModel({ kind: 'demo' });
    const list = await Promise.all(mf.map((f) => cli.fileFromUrl(f.url, f.name)));
    return cli.engine.loadModel({ kind: 'files', files: list });
  }, modelFiles);
  process.stderr.write(`[whetstone] model: ${info.name} (${info.hfArchitecture}, ${(info.parameterCount / 1e6).toFixed(2)}M parameters)\n`);
  if (adapterFiles) {
    const a = await page.evaluate(async (af) => {
      const cli = window.whetstoneCli;
      return cli.engine.importAdapter(await Promise.all(af.map((f) => cli.fileFromUrl(f.url, f.name))));
    }, adapterFiles);
    process.stderr.write(`[whetstone] adapter: LoRA r=${a.rank} alpha=${a.alpha} on ${a.targetModules.join(', ')}\n`);
  }
  const req = {
    prompt: values.prompt,
    chat: values.chat,
    useAdapter: !!adapterFiles,
    sampling: {
      maxTokens: Number(values['max-tokens']),
      temperature: Number(values.temperature),
      topK: Number(values['top-k']),
      topP: Number(values['top-p']),
      seed: Number(values.seed),
      greedy: values.greedy,
    },
  };
  process.stdout.write(values.prompt);
  await page.evaluate(async (r) => {
    const cli = window.whetstoneCli;
    let printed = 0;
    await cli.engine.generate(
      r,
      cli.proxy({
        onToken(text) {
          window.cliToken(text.slice(printed));
          printed = text.length;
        },
      }),
    );
  }, req);
  process.stdout.write('\n');
} catch (e) {
  process.stderr.write(`\n[whetstone] error: ${e.message.split('\n')[0]}\n`);
  process.exitCode = 1;
} finally {
  await host.close();
}
