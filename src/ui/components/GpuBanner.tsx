import { useDeviceStore, reconnectGpu } from '../stores/deviceStore';
import { restartEngine } from '../stores/engineRestart';

const TITLE = { unavailable: 'WebGPU is not available.', lost: 'The GPU was lost.', stopped: 'The engine stopped.' };

/** Shown at the top of the page when the studio cannot use the GPU, with the way out. */
export function GpuBanner() {
  const status = useDeviceStore((s) => s.status);
  const error = useDeviceStore((s) => s.error);
  if (status !== 'unavailable' && status !== 'lost' && status !== 'stopped') return null;
  return (
    <div role="alert" className="banner error" data-testid="gpu-banner">
      <strong>{TITLE[status]}</strong> {error}
      {status === 'lost' && (
        <button type="button" onClick={() => void reconnectGpu()}>
          Reconnect to the GPU
        </button>
      )}
      {status === 'stopped' && (
        <button type="button" onClick={() => void restartEngine()}>
          Restart the engine
        </button>
      )}
    </div>
  );
}
