// `npm install` / `npm ci` run without the "install scripts not covered by allowScripts" warning:
// every locked package with an install script has a decision (true: allowed, false: denied) in
// package.json's allowScripts (npm 11). A new dependency with a postinstall fails here until its
// script is reviewed (npm approve-scripts NAME, or npm deny-scripts NAME).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; hasInstallScript?: boolean }> };

it('every dependency with an install script is allowed or denied in allowScripts', () => {
  const withScripts = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && p.hasInstallScript)
    .map(([path, p]) => ({ name: path.replace(/^.*node_modules\//, ''), version: p.version }));
  expect(withScripts.map((p) => p.name)).toContain('webgpu');
  const decided = (name: string, version?: string) =>
    Object.keys(pkg.allowScripts ?? {}).some((k) => k === name || k === `${name}@${version}`);
  expect(withScripts.filter((p) => !decided(p.name, p.version))).toEqual([]);
  // webgpu's postinstall only clears macOS's quarantine attribute from its dawn.node: allowed
  expect(pkg.allowScripts?.webgpu).toBe(true);
});
