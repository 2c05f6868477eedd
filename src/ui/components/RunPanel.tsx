import { useEffect, useState } from 'react';
import { formatDuration, formatInt, formatMetric } from '../lib/format';
import { useDatasetStore } from '../stores/datasetStore';
import { useDeviceStore } from '../stores/deviceStore';
import { useJobStore } from '../stores/jobStore';
import { useModelStore } from '../stores/modelStore';
import { dismissRunError, isActivePhase, pauseRun, refreshRuns, resumeRun, startRun, stopRun, useRunStore } from '../stores/runStore';
import { ActionButton } from './ActionButton';
import { Alert } from './Alert';
import { TextField } from './Field';
import { Panel } from './Panel';
import { Progress } from './Progress';
import { RunCharts } from './RunCharts';
import { RunsList } from './RunsList';

const PHASE_TEXT: Record<string, string> = {
  idle: 'Not started',
  starting: 'Starting…',
  running: 'Training',
  pausing: 'Pausing after this step…',
  stopping: 'Stopping…',
  paused: 'Paused',
  finished: 'Finished',
  stopped: 'Stopped',
  failed: 'Failed',
};

/** Why training cannot start yet, in words, or null. */
function useStartBlocker(): string | null {
  const gpu = useDeviceStore((s) => s.status);
  const model = useModelStore((s) => s.status);
  const dataset = useDatasetStore((s) => s.status);
  const issues = useJobStore((s) => s.issues.length);
  const fits = useJobStore((s) => s.estimate?.fits ?? true);
  if (gpu !== 'ready') return 'The GPU is not ready (see the message at the top).';
  if (model !== 'ready') return 'Load a model in step 1 first.';
  if (dataset !== 'ready') return 'Load a dataset in step 2 first.';
  if (issues > 0) return 'Fix the settings marked in step 3 first.';
  if (!fits) return 'The job does not fit in GPU memory: see the estimate in step 3.';
  return null;
}

export function RunPanel() {
  const phase = useRunStore((s) => s.phase);
  const progress = useRunStore((s) => s.progress);
  const error = useRunStore((s) => s.error);
  const message = useRunStore((s) => s.message);
  const liveRunId = useRunStore((s) => s.liveRunId);
  const gpuReady = useDeviceStore((s) => s.status === 'ready');
  const blocker = useStartBlocker();
  const [name, setName] = useState('');
  const active = isActivePhase(phase);

  useEffect(() => {
    if (gpuReady) void refreshRuns();
  }, [gpuReady]);

  return (
    <Panel id="run" step={4} title="Run" lede="Train and watch the loss fall. Runs are saved in this browser with checkpoints, so they can be resumed after a pause or a closed tab.">
      <div className="run-controls">
        <TextField label="Run name (optional)" value={name} onChange={setName} placeholder="e.g. bob-moon-r8" />
        <div className="row buttons">
          <ActionButton onClick={() => void startRun(name)} blockedBy={active ? 'A run is in progress.' : blocker} testId="start-training">
            Start training
          </ActionButton>
          <ActionButton secondary onClick={() => void pauseRun()} blockedBy={phase === 'running' || phase === 'starting' ? null : 'Nothing is training.'} quietWhy>
            Pause
          </ActionButton>
          <ActionButton secondary onClick={() => liveRunId && void resumeRun(liveRunId)} blockedBy={phase === 'paused' && liveRunId ? null : 'No paused run in this session (older runs are listed below).'} quietWhy>
            Resume
          </ActionButton>
          <ActionButton secondary danger onClick={() => void stopRun()} blockedBy={active || phase === 'paused' ? null : 'Nothing is training.'} quietWhy>
            Stop
          </ActionButton>
        </div>
      </div>

      <div className="run-status" role="status" aria-live="polite">
        <strong>{PHASE_TEXT[phase]}</strong>
        {/* the alert below already says it in full */}
        {message && !error?.includes(message) && <span className="muted"> — {message}</span>}
      </div>
      {progress && (
        <Progress
          label="Training progress"
          value={progress.step}
          max={Math.max(1, progress.totalSteps)}
          text={`Step ${formatInt(progress.step)} of ${formatInt(progress.totalSteps)} · epoch ${progress.epoch + 1} · loss ${formatMetric(progress.loss)}${progress.valLoss !== undefined ? ` · validation ${formatMetric(progress.valLoss)}` : ''} · ${formatInt(progress.tokensPerSecond)} tokens/s · ETA ${active ? formatDuration(progress.etaSeconds) : '—'}`}
        />
      )}
      {!progress && phase === 'idle' && <p className="muted">Press “Start training” when steps 1–3 are ready.</p>}
      {error && (
        <Alert
          testId="run-error"
          action={
            <button type="button" className="secondary small" onClick={dismissRunError}>
              Dismiss
            </button>
          }
        >
          {error}
        </Alert>
      )}
      <RunCharts />
      <RunsList />
    </Panel>
  );
}
