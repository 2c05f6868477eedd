import { useDeviceStore, reconnectGpu } from '../stores/deviceStore';

/** Shown at the top of the page when the studio cannot use the GPU, with the way out. */
export function GpuBanner() {
  const status = useDeviceStore((s) => s.status);
  const error = useDeviceStore((s) => s.error);
  if (status !== 'unavailable' && status !== 'lost') return null;
  return (
    <div role="alert" className="banner error" data-testid="gpu-banner">
      <strong>{status === 'lost' ? 'The GPU was lost.' : 'WebGPU is not available.'}</strong> {error}
      {status === 'lost' && (
        <button type="button" onClick={() => void reconnectGpu()}>
          Reconnect to the GPU
        </button>
      )}
    </div>
  );
}
