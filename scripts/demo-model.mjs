#!/usr/bin/env node
// Writes the demo model (stories260K) to public/models/stories260K as a Hugging Face checkpoint.
// Usage: node scripts/demo-model.mjs [--out DIR] [--source DIR] [--download] [--base-url URL] [--force]
//   --out DIR       output folder (default public/models/stories260K)
//   --source DIR    read stories260K.bin and tok512.bin from DIR (default ../shared/models/stories260K
//                   when it exists, else download)
//   --download      download even when ../shared has the files
//   --base-url URL  where to download from (default the karpathy/tinyllamas Hugging Face repo)
//   --force         rebuild even when the output is current
import { buildDemoModel } from './lib/demoModel.mjs';

/** @param {string[]} argv */
function parseArgs(argv) {
  /** @type {{ out?: string, source?: string, download?: boolean, baseUrl?: string, force?: boolean }} */
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`demo-model: ${a} needs a value`);
      return v;
    };
    if (a === '--out') o.out = value();
    else if (a === '--source') o.source = value();
    else if (a === '--base-url') o.baseUrl = value();
    else if (a === '--download') o.download = true;
    else if (a === '--force') o.force = true;
    else throw new Error(`demo-model: unknown argument ${a}. Usage: node scripts/demo-model.mjs [--out DIR] [--source DIR] [--download] [--base-url URL] [--force]`);
  }
  return o;
}

try {
  await buildDemoModel(parseArgs(process.argv.slice(2)));
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
}
