import type { RunSummary } from '../../workers/api';
import { formatBytes, formatInt, formatMetric } from '../lib/format';
import { historyColumns, isResumable, lastValue, runStatusText } from '../lib/runs';
import { useDatasetStore } from '../stores/datasetStore';
import { useModelStore } from '../stores/modelStore';
import { runModelBlocker } from '../stores/runModel';
import { deleteRun, isActivePhase, refreshRuns, resumeRun, showRun, useRunStore } from '../stores/runStore';
import { ActionButton } from './ActionButton';
import { Sparkline } from './Sparkline';

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Saved runs, newest first, each with its loss curve and what can be done with it. */
export function RunsList() {
  const runs = useRunStore((s) => s.runs);
  const status = useRunStore((s) => s.runsStatus);
  const error = useRunStore((s) => s.runsError);
  const liveRunId = useRunStore((s) => s.liveRunId);
  const shownRunId = useRunStore((s) => s.shownRunId);
  const active = useRunStore((s) => isActivePhase(s.phase));
  // Runs another tab trains: their engine holds the run's lock (this tab's live run holds it too).
  const lockedRuns = useRunStore((s) => s.lockedRuns);
  const elsewhere = active && liveRunId ? new Set([...lockedRuns].filter((id) => id !== liveRunId)) : lockedRuns;
  const keptFolders = useRunStore((s) => s.keptFolders);
  const modelLoading = useModelStore((s) => s.status === 'loading');
  // re-render when the loaded model changes: it decides whether a run's model must be loaded again
  useModelStore((s) => s.info?.fingerprint);
  const datasetReady = useDatasetStore((s) => s.status === 'ready');
  // A run continues on the same base model and data. Its dataset is kept with it (older runs:
  // load it again); its model is loaded again by the Resume click, except a folder the browser
  // cannot reopen by itself, which the user is asked to drop again.
  const resumeBlocker = (r: RunSummary) =>
    active
      ? 'Another run is in progress.'
      : modelLoading
        ? 'A model is loading.'
        : (runModelBlocker(r, keptFolders) ?? (!r.storage?.datasetBytes && !datasetReady ? 'Load the run’s dataset in step 2 first.' : null));

  return (
    <div className="runs">
      <div className="row spread">
        <h3 id="runs-title">Past runs</h3>
        <button type="button" className="secondary small" onClick={() => void refreshRuns()} aria-busy={status === 'loading' || undefined}>
          Refresh list
        </button>
      </div>
      {error && <p className="error">{error}</p>}
      {runs.length === 0 && !error && <p className="muted">{status === 'loading' ? 'Reading saved runs…' : 'No runs yet.'}</p>}
      {runs.length > 0 && (
        <ul className="run-list" aria-labelledby="runs-title">
          {runs.map((r) => {
            const loss = historyColumns(r.history).loss;
            const resumable = isResumable(r, active ? liveRunId : null, elsewhere);
            const taken = elsewhere.has(r.id);
            return (
              <li key={r.id} className={r.id === shownRunId ? 'shown' : undefined} data-testid="run-row">
                <Sparkline values={loss} />
                <div className="run-main">
                  <span className="run-name">{r.name}</span>
                  <span className="muted">
                    {r.modelName} on {r.datasetName}
                    {r.method && r.method !== 'lora' ? ` · ${r.method === 'full' ? 'full fine-tuning' : 'prompt tuning'}` : ''} · {runStatusText(r, active ? liveRunId : null, elsewhere)} · step {formatInt(r.step)} of {formatInt(r.totalSteps)} · loss {formatMetric(lastValue(loss))} · {dateFmt.format(r.updatedAt)}
                  </span>
                  {r.message && <span className="muted">{r.message}</span>}
                  {r.storage && <span className="muted" data-testid="run-storage">{storageText(r.storage)}</span>}
                  {taken && <span className="muted">Training in another tab or window: shown here read-only. Pause it there to continue it here (then press “Refresh list”).</span>}
                </div>
                <div className="row run-actions">
                  <button type="button" className="secondary small" aria-label={`Show curves of ${r.name}`} aria-pressed={r.id === shownRunId} onClick={() => showRun(r.id)} aria-disabled={(active && r.id !== liveRunId) || undefined}>
                    Show curves
                  </button>
                  {resumable && (
                    <ActionButton small onClick={() => void resumeRun(r.id)} blockedBy={resumeBlocker(r)} label={`Resume ${r.name} from step ${r.checkpointStep}`}>
                      Resume from step {formatInt(r.checkpointStep)}
                    </ActionButton>
                  )}
                  <button
                    type="button"
                    className="secondary small danger"
                    aria-label={`Delete ${r.name}`}
                    aria-disabled={(active && r.id === liveRunId) || taken || undefined}
                    onClick={() => {
                      if ((active && r.id === liveRunId) || taken) return;
                      if (window.confirm(`Delete the run “${r.name}” and its checkpoints? This cannot be undone.`)) void deleteRun(r.id);
                    }}
                  >
                    Delete
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

/** What the run keeps in this browser (freed when it is deleted). */
function storageText(s: NonNullable<RunSummary['storage']>): string {
  const kept = s.datasetBytes + s.checkpointBytes;
  const parts = [s.datasetBytes > 0 ? `tokenized dataset ${formatBytes(s.datasetBytes)}` : 'dataset not kept (load it to resume)', `checkpoint ${formatBytes(s.checkpointBytes)}`];
  return `Stored in this browser: ${formatBytes(kept)} (${parts.join(', ')})`;
}
