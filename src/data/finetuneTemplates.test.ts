// Acceptance: `npm run finetune -- --model DIR --data chat.jsonl` trains with the real chat
// templates. The model folder is a tiny random-weight LlamaForCausalLM (hidden 16, one layer)
// around the real tokenizer files, written into a temp folder; the CLI runs it in headless
// Chromium through the studio's engine worker for two steps. The dataset the engine tokenized
// (metrics.json) must have exactly the tokens and trained tokens that the same rows give here in
// Node, and for Qwen3, Llama 3.2 instruct and Gemma 3 that count of trained tokens equals the tokens
// of the hand-written answers with their end-of-turn tokens (realTemplates.test.ts checks the
// mask itself, token by token, against an independent render).

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { readDatasetFile } from './read';
import { chatTemplateInfo } from './template';
import { tokenizeDataset } from './tokenize';
import { CHAT } from './testing/conversations';
import { realTokenizer, type RealTokenizerName } from './testing/realTokenizers';
import { writeTinyModelFolder } from './testing/tinyModelFolder';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(join(tmpdir(), 'finetuneTemplates-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Rows: the three-answer conversation and a shorter one, so that examples differ.
const ROWS = [CHAT, CHAT.slice(0, 3), CHAT, CHAT.slice(0, 5)];

const ANSWERS: Record<RealTokenizerName, string[][]> = {
  qwen3: [
    ['Paris — la « Ville Lumière ». 🗼<|im_end|>', ' Madrid, señor.\n<|im_end|>', 'Berlin. ベルリン<|im_end|>'],
    ['Paris — la « Ville Lumière ». 🗼<|im_end|>'],
    ['Paris — la « Ville Lumière ». 🗼<|im_end|>', ' Madrid, señor.\n<|im_end|>', 'Berlin. ベルリン<|im_end|>'],
    // last answer: content.lstrip('\n'), which @huggingface/jinja does as trimStart()
    ['Paris — la « Ville Lumière ». 🗼<|im_end|>', 'Madrid, señor.\n<|im_end|>'],
  ],
  llama3_2: [
    ['Paris — la « Ville Lumière ». 🗼<|eot_id|>', 'Madrid, señor.<|eot_id|>', 'Berlin. ベルリン<|eot_id|>'],
    ['Paris — la « Ville Lumière ». 🗼<|eot_id|>'],
    ['Paris — la « Ville Lumière ». 🗼<|eot_id|>', 'Madrid, señor.<|eot_id|>', 'Berlin. ベルリン<|eot_id|>'],
    ['Paris — la « Ville Lumière ». 🗼<|eot_id|>', 'Madrid, señor.<|eot_id|>'],
  ],
  gemma3: [
    ['Paris — la « Ville Lumière ». 🗼<end_of_turn>', 'Madrid, señor.<end_of_turn>', 'Berlin. ベルリン<end_of_turn>'],
    ['Paris — la « Ville Lumière ». 🗼<end_of_turn>'],
    ['Paris — la « Ville Lumière ». 🗼<end_of_turn>', 'Madrid, señor.<end_of_turn>', 'Berlin. ベルリン<end_of_turn>'],
    ['Paris — la « Ville Lumière ». 🗼<end_of_turn>', 'Madrid, señor.<end_of_turn>'],
  ],
};

function runCli(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [join(root, 'scripts/finetune.mjs'), ...args], { cwd: root, timeout: 150_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}\n${stderr}` });
    });
  });
}

function nodeSide(name: RealTokenizerName, file: string) {
  const t = realTokenizer(name);
  return readDatasetFile(new File([readFileSync(file)], 'chat.jsonl')).then((raw) =>
    tokenizeDataset(raw, t.tokenizer, chatTemplateInfo(t.tokenizerConfig, t.tokenizer), { maxSeqLen: 128, onBadRow: 'stop' }),
  );
}

describe('finetune CLI with real chat templates (tiny random models)', () => {
  const dataFile = join(tmp, 'chat.jsonl');
  writeFileSync(dataFile, ROWS.map((messages) => JSON.stringify({ messages })).join('\n') + '\n');

  test('the pipeline the engine runs trains exactly the answers and their end-of-turn tokens (Qwen3, Llama 3.2, Gemma 3)', async () => {
    for (const name of ['qwen3', 'llama3_2', 'gemma3'] as const) {
      const t = realTokenizer(name);
      const ds = await nodeSide(name, dataFile);
      expect(ds.stats.examples).toBe(ROWS.length);
      // Each answer re-tokenized alone: the trained tokens are exactly these, nothing of prompts or headers.
      const answerTokens = ANSWERS[name].flat().reduce((n, a) => n + t.tokenizer.encode(a, { add_special_tokens: false }).ids.length, 0);
      expect(ds.stats.trainedTokens, name).toBe(answerTokens);
    }
  });

  // One CLI run per real template (about 20-50 s each here): the model folder differs only by its
  // tokenizer files, so each run checks that the engine reads that template as Node does.
  test.each(['qwen3', 'llama3_2', 'gemma3'] as const)('npm run finetune with %s\'s real template: two LoRA steps; the engine tokenized exactly what the Node pipeline does', async (name) => {
    const t = realTokenizer(name);
    const modelDir = join(tmp, `model-${name}`);
    writeTinyModelFolder(modelDir, t);
    const outDir = join(tmp, `out-${name}`);
    const r = await runCli([
      '--model', modelDir, '--data', dataFile, '--steps', '2', '--out', outDir,
      '--profile', join(tmp, `profile-${name}`), '--batch-size', '1', '--seq-len', '128', '--validation', '0',
    ]);
    expect(r.code, r.out).toBe(0);
    const metrics = JSON.parse(readFileSync(join(outDir, 'metrics.json'), 'utf8')) as {
      dataset: { stats: { examples: number; tokens: number; trainedTokens: number; skippedRows: number } };
      firstLoss: number;
      lastLoss: number;
    };
    expect(Number.isFinite(metrics.firstLoss) && Number.isFinite(metrics.lastLoss)).toBe(true);
    const here = await nodeSide(name, dataFile);
    expect(metrics.dataset.stats).toMatchObject({
      examples: ROWS.length, skippedRows: 0, tokens: here.stats.tokens, trainedTokens: here.stats.trainedTokens,
    });
  }, 180_000);
});
