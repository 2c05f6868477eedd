import { useEffect } from 'react';
import { DatasetPanel } from './components/DatasetPanel';
import { DevicePanel } from './components/DevicePanel';
import { ExportPanel } from './components/ExportPanel';
import { GpuBanner } from './components/GpuBanner';
import { JobPanel } from './components/JobPanel';
import { ModelPanel } from './components/ModelPanel';
import { PlaygroundPanel } from './components/PlaygroundPanel';
import { RunPanel } from './components/RunPanel';
import { StepNav } from './components/StepNav';
import { startEngine } from './stores/deviceStore';
import { wireStores } from './stores/wiring';

export function App() {
  useEffect(() => {
    wireStores();
    void startEngine();
  }, []);
  return (
    <>
      <header className="top">
        <h1>Whetstone</h1>
        <p className="tagline">Fine-tune language models with LoRA on your own GPU, in this tab. Nothing leaves your machine.</p>
      </header>
      <GpuBanner />
      <div className="layout">
        <aside className="sidebar">
          <StepNav />
          <DevicePanel />
        </aside>
        <main>
          <ModelPanel />
          <DatasetPanel />
          <JobPanel />
          <RunPanel />
          <PlaygroundPanel />
          <ExportPanel />
        </main>
      </div>
    </>
  );
}
