// Adapter and device acquisition. Works on the main thread, in a Web Worker and in Node (pass the
// `GPU` object from the `webgpu` package). requestAdapter can hang forever under some flag
// combinations, so every await here has a timeout.
import { GpuAllocator } from './allocator';
import { countDeviceCalls, GpuCounters } from './counters';
import { PipelineCache } from './shader';
import { UniformArena } from './uniforms';
import { watchDevice, type DeviceLostEvent } from './watch';

export interface AdapterLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
  minUniformBufferOffsetAlignment: number;
}

/** Plain data (structured-clone safe) describing the adapter, for the UI and benchmarks. */
export interface AdapterDescription {
  name: string;
  vendor: string;
  architecture: string;
  description: string;
  /** true for CPU rasterisers (SwiftShader, llvmpipe, WARP) */
  isSoftware: boolean;
  /** 'shader-f16' when f16 arithmetic is enabled; otherwise halves are packed in u32 storage */
  fp16Mode: 'shader-f16' | 'packed-u32';
  features: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  limits: AdapterLimits;
}

export class WebGpuUnavailableError extends Error {
  constructor(reason: string) {
    super(
      `WebGPU is not available: ${reason}. Whetstone needs a browser with WebGPU: Chrome or Edge 121+ ` +
        `on Windows, macOS or ChromeOS; on Linux, Chrome/Chromium started with --enable-unsafe-webgpu ` +
        `(and --enable-features=Vulkan on machines with a GPU). Safari 26+ and Firefox 141+ on Windows also work.`,
    );
    this.name = 'WebGpuUnavailableError';
  }
}

export interface AcquireOptions {
  /** navigator.gpu by default; Node passes create([...]) from the `webgpu` package */
  gpu?: GPU;
  timeoutMs?: number;
  powerPreference?: GPUPowerPreference;
  /** request shader-f16 when the adapter has it (default true) */
  useShaderF16?: boolean;
  /** request subgroups when the adapter has them (default true; false gives a device without, e.g. to test the fallbacks) */
  useSubgroups?: boolean;
  onLost?: (e: DeviceLostEvent) => void;
  onUncapturedError?: (message: string) => void;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: GPUAdapter;
  description: AdapterDescription;
  allocator: GpuAllocator;
  pipelines: PipelineCache;
  uniforms: UniformArena;
  /** a 16-byte storage buffer to bind where a kernel's optional input (e.g. bias) is absent */
  emptyBuffer: GPUBuffer;
  /** resolves when the device is lost (destroyed, driver reset, out of memory...) */
  lost: Promise<DeviceLostEvent>;
  /** passes, dispatches, submits, buffer writes and creations so far (src/gpu/counters.ts) */
  counters: GpuCounters;
  /**
   * true (default): consecutive dispatches share one compute pass, ended only when something else
   * needs the encoder (a copy, a clear, a submit). WebGPU orders and synchronises storage
   * accesses between the dispatches of a pass, so results are the same; per-pass timing (the pass
   * timer) sets it false to get one pass per dispatch.
   */
  mergePasses: boolean;
  /**
   * The command encoder for copies, clears and passes of one's own; ends the shared compute pass
   * first (an encoder with an open pass cannot record anything else). Submitted by flush().
   */
  encoder(): GPUCommandEncoder;
  /**
   * A compute pass to record one dispatch into: the open shared pass when mergePasses is on, else
   * a new pass labelled `label` on ctx.encoder(). Callers must not end() a shared pass.
   */
  computePass(label: string): { pass: GPUComputePassEncoder; shared: boolean };
  /** Submit everything recorded so far (uniform values first). */
  flush(): void;
  destroy(): void;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new WebGpuUnavailableError(`${what} did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

const LIMIT_KEYS: (keyof AdapterLimits)[] = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'minUniformBufferOffsetAlignment',
];

export function describeAdapter(adapter: GPUAdapter, device: GPUDevice): AdapterDescription {
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const vendor = info.vendor || 'unknown vendor';
  const architecture = info.architecture || '';
  const description = info.description || '';
  const fallback = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  const text = `${vendor} ${architecture} ${description}`.toLowerCase();
  const isSoftware = fallback || /swiftshader|llvmpipe|lavapipe|softpipe|warp|microsoft basic/.test(text);
  const name = [vendor, architecture, description].filter(Boolean).join(' ') || 'unnamed adapter';
  const limits = {} as AdapterLimits;
  for (const k of LIMIT_KEYS) limits[k] = Number(device.limits[k]);
  return {
    name,
    vendor,
    architecture,
    description,
    isSoftware,
    fp16Mode: device.features.has('shader-f16') ? 'shader-f16' : 'packed-u32',
    features: {
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
    },
    limits,
  };
}

export async function acquireGpu(opts: AcquireOptions = {}): Promise<GpuContext> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const gpu = opts.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) throw new WebGpuUnavailableError('navigator.gpu is missing in this browser or context');
  const adapter = await withTimeout(
    gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' }),
    timeoutMs,
    'requestAdapter()',
  );
  if (!adapter) throw new WebGpuUnavailableError('the browser offered no GPU adapter (it may be blocklisted or disabled)');

  const wanted: GPUFeatureName[] = ['timestamp-query'];
  if (opts.useSubgroups ?? true) wanted.push('subgroups');
  if (opts.useShaderF16 ?? true) wanted.push('shader-f16');
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  // The device's default limits are far below what adapters offer (128 MiB bindings): ask for all.
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMIT_KEYS) {
    const v = adapter.limits[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const device = await withTimeout(
    adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'whetstone' }),
    timeoutMs,
    'requestDevice()',
  );
  const lost = watchDevice(device, {
    onLost: opts.onLost,
    onUncapturedError: opts.onUncapturedError,
  });
  const description = describeAdapter(adapter, device);
  const allocator = new GpuAllocator(device);
  const uniforms = new UniformArena(device, description.limits.minUniformBufferOffsetAlignment);
  const counters = new GpuCounters();
  countDeviceCalls(device, counters);
  let current: GPUCommandEncoder | null = null;
  let open: GPUComputePassEncoder | null = null;
  const endShared = () => {
    if (open) {
      open.end();
      open = null;
    }
  };
  const ctx: GpuContext = {
    device,
    adapter,
    description,
    allocator,
    pipelines: new PipelineCache(device),
    uniforms,
    emptyBuffer: allocator.create(16, GPUBufferUsage.STORAGE, 'empty binding'),
    lost,
    counters,
    mergePasses: true,
    encoder() {
      endShared();
      current ??= device.createCommandEncoder({ label: 'whetstone ops' });
      return current;
    },
    computePass(label) {
      if (open && ctx.mergePasses) return { pass: open, shared: true };
      // ctx.encoder, not the local one: a pass timer may have wrapped it
      const pass = ctx.encoder().beginComputePass({ label });
      counters.passes++;
      if (!ctx.mergePasses) return { pass, shared: false };
      open = pass;
      return { pass, shared: true };
    },
    flush() {
      endShared();
      uniforms.upload();
      if (current) {
        device.queue.submit([current.finish()]);
        current = null;
      }
      uniforms.recycle();
    },
    destroy() {
      allocator.releaseAll();
      uniforms.destroy();
      device.destroy();
    },
  };
  return ctx;
}
