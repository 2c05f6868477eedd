// The GPU for unit tests: Dawn's Node bindings (npm `webgpu`) on the SwiftShader Vulkan driver that
// Debian's chromium package ships (vitest.config.ts points VK_ICD_FILENAMES at it). On a machine
// with a real GPU the same code picks that GPU.
import { create, globals } from 'webgpu';
import { acquireGpu, type GpuContext } from '../device';

// The object returned by create() must stay reachable for the life of the process, or Dawn's
// native side is torn down under us (SIGSEGV).
let keepAlive: GPU | null = null;
let shared: Promise<GpuContext> | null = null;

export function nodeGpu(): GPU {
  if (!keepAlive) {
    Object.assign(globalThis, globals);
    keepAlive = create(['backend=vulkan']);
  }
  return keepAlive;
}

/** One device per test process, shared by the tests in it. */
export function getTestGpu(): Promise<GpuContext> {
  shared ??= acquireGpu({
    gpu: nodeGpu(),
    timeoutMs: 30_000,
    onUncapturedError: (m) => {
      // Tests must never pass on garbage produced after an uncaptured validation error.
      throw new Error(`uncaptured WebGPU error: ${m}`);
    },
  });
  return shared;
}

/** A fresh device (for tests that destroy or lose it). */
export function newTestGpu(): Promise<GpuContext> {
  return acquireGpu({ gpu: nodeGpu(), timeoutMs: 30_000 });
}
