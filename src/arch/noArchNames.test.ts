// The architecture modules are the only place that knows an architecture by name: everything else
// asks the registry (archOf(config)). This test fails when code outside src/arch compares, switches
// on or pattern-tests an architecture name ("gpt2", "llama", "LlamaForCausalLM", ...). Test files
// are exempt (they name the models they load).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const SCANNED = ['src', 'scripts', 'bench'];

const NAME = String.raw`(?:gpt2|llama|qwen2|qwen3|mistral|gemma3(?:_text)?|gemma|phi3|phi|\w+ForCausalLM|GPT2LMHeadModel)`;
const Q = `['"\`]`;
const PATTERNS: RegExp[] = [
  // x === 'gpt2', x !== "llama", 'qwen3' == x
  new RegExp(String.raw`[!=]==?\s*${Q}${NAME}${Q}`, 'i'),
  new RegExp(String.raw`${Q}${NAME}${Q}\s*[!=]==?`, 'i'),
  // case 'mistral':
  new RegExp(String.raw`\bcase\s+${Q}${NAME}${Q}\s*:`, 'i'),
  // /gpt2/i.test(name), name.match(/llama/)
  new RegExp(String.raw`/[^/\n]*${NAME}[^/\n]*/[dgimsuy]*\.(?:test|exec)\(`, 'i'),
  new RegExp(String.raw`\.(?:match|search|replace)\(\s*/[^/\n]*${NAME}`, 'i'),
  // name.includes('gpt2'), .startsWith('Llama')
  new RegExp(String.raw`\.(?:includes|startsWith|endsWith|indexOf)\(\s*${Q}${NAME}`, 'i'),
];

/** Lines of `source` that test an architecture by name (comments skipped). */
export function archNameTests(source: string): { line: number; text: string }[] {
  const hits: { line: number; text: string }[] = [];
  source.split('\n').forEach((text, i) => {
    const code = text.trim();
    if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return;
    if (PATTERNS.some((p) => p.test(text))) hits.push({ line: i + 1, text: code });
  });
  return hits;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'fixtures' || name === 'results') continue;
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|tsx|js|mjs)$/.test(name) && !/\.test\.(ts|tsx)$/.test(name) && !/\.spec\.ts$/.test(name)) out.push(path);
  }
  return out;
}

describe('architecture names outside src/arch', () => {
  it('recognises the ways code tests a name (planted violations)', () => {
    const planted = [
      "const conv = config.architecture === 'gpt2';",
      'if (arch !== "mistral") return;',
      "    case 'qwen3':",
      'return /gpt2/i.test(info.hfArchitecture) ? 1 : 0;',
      "if (c.hfArchitecture.startsWith('Gemma3')) x();",
      "const isPhi = 'phi3' == a;",
      "if (name === 'LlamaForCausalLM') {}",
    ];
    for (const line of planted) expect(archNameTests(line), line).toHaveLength(1);
    // names as data, comments and unrelated strings are fine
    const fine = ["const mutations = ['llama', 'gpt2'];", "// config.architecture === 'gpt2' used to be here", "if (kind === 'llama2c') load();", "x === 'gptq'"];
    for (const line of fine) expect(archNameTests(line), line).toEqual([]);
  });

  it('no source file outside src/arch tests an architecture by name', () => {
    const offenders: string[] = [];
    let scanned = 0;
    for (const top of SCANNED) {
      for (const file of sourceFiles(join(ROOT, top))) {
        scanned++;
        const rel = relative(ROOT, file);
        if (rel.startsWith('src/arch/')) continue;
        for (const h of archNameTests(readFileSync(file, 'utf8'))) offenders.push(`${rel}:${h.line}: ${h.text}`);
      }
    }
    expect(scanned).toBeGreaterThan(100);
    expect(offenders, `architecture names tested outside src/arch; ask the registry (archOf(config)) instead:\n${offenders.join('\n')}`).toEqual([]);
  });
});
