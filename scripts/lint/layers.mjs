// @ts-check
// The one-way flow of src/, as an ESLint rule (`whetstone/layers`):
//   ui, cli -> workers -> train -> model/arch -> gpu (tune, selftest -> ops -> kernels)
// with io and data below the model and util (PRNG, f16, result checks) below everything.
// A production module may import its own layer and the layers it lists; test files
// (*.test.ts, testing/ folders, src/fuzz) are not layered, so an integration test can drive a layer
// from above, but production code may not import them. A relative import's target is resolved from
// the importing file, so `../../ui/x` from src/gpu/ops is caught however it is spelled.
import path from 'node:path';

/** @typedef {{ name: string, paths: string[], imports: string[], types?: string[] }} Layer */

/**
 * Layers, most specific path first. `imports`: the other layers a production module of this layer
 * may import values from; `types`: layers it may also import types from (`import type`).
 * @type {Layer[]}
 */
export const LAYERS = [
  { name: 'ui', paths: ['src/ui', 'src/cli'], imports: ['workers', 'train', 'data', 'util'], types: ['model', 'io', 'gpu/core', 'gpu/ops', 'gpu/tune', 'gpu/selftest'] },
  { name: 'workers', paths: ['src/workers'], imports: ['train', 'model', 'io', 'data', 'gpu/tune', 'gpu/selftest', 'gpu/ops', 'gpu/core', 'util'] },
  { name: 'train', paths: ['src/train'], imports: ['model', 'io', 'data', 'gpu/ops', 'gpu/core', 'util'] },
  { name: 'model', paths: ['src/model', 'src/arch'], imports: ['io', 'data', 'gpu/ops', 'gpu/core', 'util'] },
  { name: 'io', paths: ['src/io'], imports: ['util'] },
  { name: 'data', paths: ['src/data'], imports: ['util'] },
  { name: 'gpu/tune', paths: ['src/gpu/tune'], imports: ['gpu/ops', 'gpu/core', 'util'] },
  { name: 'gpu/selftest', paths: ['src/gpu/selftest.ts'], imports: ['gpu/ops', 'gpu/core', 'util'] },
  { name: 'gpu/ops', paths: ['src/gpu/ops'], imports: ['gpu/core', 'util'] },
  { name: 'gpu/testing', paths: ['src/gpu/testing'], imports: ['gpu/ops', 'gpu/core', 'util'] },
  { name: 'gpu/core', paths: ['src/gpu'], imports: ['util'] },
  { name: 'fuzz', paths: ['src/fuzz'], imports: [] },
  { name: 'util', paths: ['src/util'], imports: [] },
];

/**
 * Wrong-way imports that another change is removing, as `importer -> target` (repo-relative paths,
 * no extension). Each one is allowed until then; the rule reports an entry that no longer occurs,
 * so the list cannot outlive the fix.
 * @type {string[]}
 */
export const TEMPORARY_EXCEPTIONS = [];

/**
 * The rule's entry for eslint.config.js.
 * @param {string} root the repository root
 * @returns {['error', { root: string, exceptions: string[] }]}
 */
export function layersRuleConfig(root) {
  return ['error', { root, exceptions: TEMPORARY_EXCEPTIONS }];
}

/** @param {string} p */
const norm = (p) => p.split(path.sep).join('/');

/** @param {string} rel @param {string} p */
function within(rel, p) {
  return rel === p || rel.startsWith(`${p}/`);
}

/**
 * The layer of a repo-relative path, or null outside src/.
 * @param {string} rel
 * @returns {Layer | null}
 */
export function layerOf(rel) {
  for (const layer of LAYERS) if (layer.paths.some((p) => within(rel, p))) return layer;
  return null;
}

/**
 * Test code: test files, testing/ helpers and the fuzzers. Not layered, never imported by production.
 * @param {string} rel
 */
export function isTestCode(rel) {
  return /\.test\.[cm]?[jt]sx?$/.test(rel) || rel.split('/').includes('testing') || within(rel, 'src/fuzz');
}

/** @param {string} rel */
function stripExt(rel) {
  return rel.replace(/\?.*$/, '').replace(/\.(d\.ts|ts|tsx|js|mjs)$/, '');
}

/** @param {any} node an import or export declaration */
function isTypeOnly(node) {
  if (node.importKind === 'type' || node.exportKind === 'type') return true;
  const specs = node.specifiers ?? [];
  return specs.length > 0 && specs.every((/** @type {any} */ s) => s.importKind === 'type' || s.exportKind === 'type');
}

/** @type {import('eslint').Rule.RuleModule} */
export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Keep the one-way flow ui -> workers -> train -> model -> gpu (io, data, util below)' },
    schema: [
      {
        type: 'object',
        properties: { root: { type: 'string' }, exceptions: { type: 'array', items: { type: 'string' } } },
        additionalProperties: false,
      },
    ],
    messages: {
      wrongWay:
        '{{from}} ({{fromLayer}}) must not import {{to}} ({{toLayer}}): the flow is ui -> workers -> train -> model -> gpu, ' +
        'with io, data and util below. Move the shared piece down (e.g. to src/util/) or pass it in from above.',
      testCode: '{{from}} is production code and must not import test code {{to}}; move what it needs out of the testing folder (e.g. to src/util/).',
      staleException: 'Temporary layering exception "{{entry}}" no longer occurs: remove it from TEMPORARY_EXCEPTIONS in scripts/lint/layers.mjs.',
    },
  },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = norm(path.relative(root, context.filename));
    const layer = layerOf(file);
    if (!layer || isTestCode(file)) return {};
    const fromLayer = layer;
    const fromKey = stripExt(file);
    const exceptions = context.options[0]?.exceptions ?? TEMPORARY_EXCEPTIONS;
    const mine = exceptions.filter((/** @type {string} */ e) => e.startsWith(`${fromKey} -> `));
    const used = new Set();

    /** @param {any} node @param {any} source the import's string literal */
    function check(node, source) {
      const spec = source?.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = norm(path.relative(root, path.resolve(path.dirname(context.filename), spec.replace(/\?.*$/, ''))));
      const toLayer = layerOf(target);
      if (!toLayer) return;
      const data = { from: file, to: target, fromLayer: fromLayer.name, toLayer: toLayer.name };
      if (isTestCode(target)) {
        context.report({ node: source, messageId: 'testCode', data });
        return;
      }
      if (toLayer === fromLayer || fromLayer.imports.includes(toLayer.name)) return;
      if (isTypeOnly(node) && fromLayer.types?.includes(toLayer.name)) return;
      const entry = `${fromKey} -> ${stripExt(target)}`;
      if (mine.includes(entry)) {
        used.add(entry);
        return;
      }
      context.report({ node: source, messageId: 'wrongWay', data });
    }

    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source),
      'Program:exit'(program) {
        for (const entry of mine) if (!used.has(entry)) context.report({ node: program, messageId: 'staleException', data: { entry } });
      },
    };
  },
};

export const layersPlugin = { rules: { layers: layersRule } };
