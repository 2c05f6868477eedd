// The layering rule on planted imports (through the project's own eslint.config.js) and on the tree.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint, Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { layersPlugin, layersRuleConfig } from './layers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Lints `code` as if it were the file at `rel` with the project's config; returns the layering messages. */
async function layerMessages(rel: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: path.join(root, rel) });
  return result.messages.filter((m) => m.ruleId === 'whetstone/layers').map((m) => m.message);
}

describe('layering lint (whetstone/layers)', () => {
  it('fails a planted wrong-way import: gpu importing ui', async () => {
    const msgs = await layerMessages('src/gpu/planted.ts', "import { App } from '../ui/App';\nexport const x = App;\n");
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toContain('src/gpu/planted.ts (gpu/core) must not import src/ui/App (ui)');
  });

  it('fails the wrong-way imports the layout once had', async () => {
    expect(await layerMessages('src/io/planted.ts', "export { f32ToF16Bits } from '../gpu/tensor';\n")).toHaveLength(1);
    expect(await layerMessages('src/model/planted.ts', "import { estimateMemory } from '../train/memory';\nexport const m = estimateMemory;\n")).toHaveLength(1);
    expect(await layerMessages('src/gpu/ops/planted.ts', "import { tuneMatmul } from '../tune/matmulTuner';\nexport const t = tuneMatmul;\n")).toHaveLength(1);
    expect(await layerMessages('src/data/planted.ts', "const m = await import('../model/load');\nexport default m;\n")).toHaveLength(1);
  });

  it('fails production code importing test code', async () => {
    const msgs = await layerMessages('src/gpu/tune/planted.ts', "import { getTestGpu } from '../testing/nodeGpu';\nexport const g = getTestGpu;\n");
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toContain('must not import test code src/gpu/testing/nodeGpu');
  });

  it('passes downward imports, and type-only imports from the page', async () => {
    expect(await layerMessages('src/train/planted.ts', "import { matmulXWt } from '../gpu/ops/matmul';\nimport { mulberry32 } from '../util/prng';\nexport const a = [matmulXWt, mulberry32];\n")).toEqual([]);
    expect(await layerMessages('src/ui/planted.ts', "import type { AdapterDescription } from '../gpu/device';\nexport type A = AdapterDescription;\n")).toEqual([]);
    expect(await layerMessages('src/ui/planted.ts', "import { acquireGpu } from '../gpu/device';\nexport const g = acquireGpu;\n")).toHaveLength(1);
  });

  it('fails a relative import spelled with the .ts suffix', async () => {
    const eslint = new ESLint({ cwd: root });
    const [result] = await eslint.lintText("import { mulberry32 } from '../util/prng.ts';\nexport const m = mulberry32;\n", { filePath: path.join(root, 'src/data/planted.ts') });
    expect(result.messages.map((m) => m.ruleId)).toEqual(['no-restricted-imports']);
  });

  it('allows a listed temporary exception and reports it once it no longer occurs', async () => {
    const linter = new Linter({ configType: 'flat', cwd: root });
    const config = (exceptions: string[]) => [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser as Linter.Parser },
        plugins: { whetstone: layersPlugin },
        rules: { 'whetstone/layers': ['error', { root, exceptions }] as Linter.RuleEntry },
      },
    ];
    const file = path.join(root, 'src/model/planted.ts');
    const wrong = "import { x } from '../train/memory';\nexport const y = x;\n";
    expect(linter.verify(wrong, config(['src/model/planted -> src/train/memory']), file)).toEqual([]);
    const stale = linter.verify('export const y = 1;\n', config(['src/model/planted -> src/train/memory']), file);
    expect(stale.map((m) => m.message)).toEqual([expect.stringContaining('no longer occurs')]);
  });

  it('passes on the tree', async () => {
    const eslint = new ESLint({
      cwd: root,
      // an eslint-disable comment does not get a file out of the layering
      allowInlineConfig: false,
      overrideConfigFile: true,
      overrideConfig: [
        { ignores: ['**/node_modules/**'] },
        {
          files: ['src/**/*.{ts,tsx,js,mjs}'],
          languageOptions: { parser: tseslint.parser as Linter.Parser },
          plugins: { whetstone: layersPlugin },
          rules: { 'whetstone/layers': layersRuleConfig(root) as Linter.RuleEntry },
        },
      ],
    });
    const results = await eslint.lintFiles(['src']);
    expect(results.length).toBeGreaterThan(300);
    const problems = results.flatMap((r) => r.messages.map((m) => `${path.relative(root, r.filePath)}:${m.line} ${m.message}`));
    expect(problems).toEqual([]);
  });
});
