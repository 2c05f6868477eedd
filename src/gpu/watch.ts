// One place that hooks device loss and uncaptured errors. Uses only GPUDevice APIs, so it works on
// the main thread, in a Web Worker and in Node.

export interface DeviceLostEvent {
  reason: 'destroyed' | 'unknown';
  message: string;
}

export interface WatchOptions {
  onLost?: (e: DeviceLostEvent) => void;
  onUncapturedError?: (message: string) => void;
}

export function watchDevice(device: GPUDevice, opts: WatchOptions): Promise<DeviceLostEvent> {
  device.addEventListener('uncapturederror', (ev: Event) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    const message = `${err.constructor?.name ?? 'GPUError'}: ${err.message}`;
    if (opts.onUncapturedError) opts.onUncapturedError(message);
    else console.error('[whetstone] uncaptured WebGPU error:', message);
  });
  return device.lost.then((info) => {
    const e: DeviceLostEvent = {
      reason: info.reason === 'destroyed' ? 'destroyed' : 'unknown',
      message: info.message || 'the GPU device was lost',
    };
    opts.onLost?.(e);
    return e;
  });
}
