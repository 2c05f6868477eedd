import js from '@eslint/js';
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';
import { layersPlugin, layersRuleConfig } from './scripts/lint/layers.mjs';

export default tseslint.config(
  { ignores: ['dist', 'node_modules', 'public/models', 'test-results', 'playwright-report', 'bench/results', 'out', 'gpu-kit', '.hf-venv'] },
  {
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    files: ['**/*.{ts,tsx,js,mjs}'],
    languageOptions: { ecmaVersion: 2022, globals: { ...globals.browser, ...globals.node, ...globals.worker } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The one-way flow of src/ (see scripts/lint/layers.mjs for the layers and what each may import).
  {
    files: ['src/**/*.{ts,tsx,js,mjs}'],
    plugins: { whetstone: layersPlugin },
    rules: {
      'whetstone/layers': layersRuleConfig(import.meta.dirname),
      // one spelling for relative imports: without the .ts suffix (Vite and tsc's Bundler resolution take both)
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.{1,2}/.*\\.tsx?$', message: 'Import relative TypeScript modules without the .ts suffix.' }] }],
    },
  },
);
