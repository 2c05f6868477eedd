import { useEffect } from 'react';
import { DevicePanel } from './components/DevicePanel';
import { GpuBanner } from './components/GpuBanner';
import { startEngine } from './stores/deviceStore';

export function App() {
  useEffect(() => {
    void startEngine();
  }, []);
  return (
    <>
      <header className="top">
        <h1>Whetstone</h1>
        <p className="tagline">Fine-tune language models with LoRA on your own GPU, in this tab. Nothing leaves your machine.</p>
      </header>
      <GpuBanner />
      <main>
        <DevicePanel />
      </main>
    </>
  );
}
