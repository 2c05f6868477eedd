import { PRESETS } from '../../train/config';
import { matchingPreset, plannedSteps, type PresetName } from '../lib/configEdit';
import { formatInt } from '../lib/format';
import { useDatasetStore } from '../stores/datasetStore';
import { applyPreset, resetJob, useJobStore } from '../stores/jobStore';
import { JobFields } from './JobFields';
import { MemoryEstimateView } from './MemoryEstimateView';
import { Panel } from './Panel';

export function JobPanel() {
  const config = useJobStore((s) => s.config);
  const issueCount = useJobStore((s) => s.issues.length);
  const trainExamples = useDatasetStore((s) => s.info?.trainExamples ?? null);
  const preset = matchingPreset(config);
  const steps = plannedSteps(config, trainExamples);
  const effectiveBatch = config.batchSize * config.gradAccumulation;

  return (
    <Panel id="job" step={3} title="Training job" lede="How long and how hard to train. Start from a preset; every setting says what it does.">
      <div className="presets" role="group" aria-label="Presets">
        {(Object.keys(PRESETS) as PresetName[]).map((name) => (
          <button key={name} type="button" className={`preset${preset === name ? ' selected' : ''}`} aria-pressed={preset === name} onClick={() => applyPreset(name)}>
            <span className="preset-label">{PRESETS[name].label}</span>
            <span className="preset-blurb">{PRESETS[name].blurb}</span>
          </button>
        ))}
        <button type="button" className="secondary reset" onClick={resetJob}>
          Reset to defaults
        </button>
      </div>
      <p className="job-summary" aria-live="polite">
        {issueCount > 0 ? (
          <span className="error">
            {issueCount} setting{issueCount > 1 ? 's need' : ' needs'} fixing (see the messages below).
          </span>
        ) : (
          <>
            {steps === null ? 'Steps: load a dataset to count them' : `${config.maxSteps > 0 ? '' : 'At most '}${formatInt(steps)} optimizer steps`}, effective batch {Number.isFinite(effectiveBatch) ? effectiveBatch : '—'} sequences of up to {config.seqLen} tokens
            {steps !== null && Number.isFinite(effectiveBatch) ? ` (≈${formatInt(steps * effectiveBatch * config.seqLen)} tokens at most)` : ''}.
          </>
        )}
      </p>
      <div className="job-grid">
        <MemoryEstimateView />
        <JobFields />
      </div>
    </Panel>
  );
}
