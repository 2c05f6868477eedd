import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Dawn's Node bindings ship no software Vulkan driver; Chromium's SwiftShader is the one we use.
// The Vulkan loader reads this variable once per process, so it must be set here, in the parent,
// before the test forks are spawned (a worker thread would get a private copy of process.env).
const swiftshaderIcd = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(swiftshaderIcd)) {
  process.env.VK_ICD_FILENAMES = swiftshaderIcd;
}

// The Vulkan loader complains on every device creation without it.
if (!process.env.XDG_RUNTIME_DIR) {
  const dir = join(tmpdir(), `whetstone-xdg-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts'],
    pool: 'forks',
    // Two forks on the 2-core CI machine: one fork used ~1.1 cores (shader compiles and most of the
    // JS are single-threaded), and the suite had grown to ~45 min serially.
    maxWorkers: 2,
    setupFiles: ['src/gpu/testing/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
