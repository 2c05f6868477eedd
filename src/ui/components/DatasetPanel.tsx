import type { DatasetProgressEvent } from '../../workers/api';
import { formatBytes, formatPercent } from '../lib/format';
import { DATASET_ACCEPT, loadDatasetFiles, loadSampleDataset, setBadRowPolicy, setMaxRows, setTrainOn, useDatasetStore } from '../stores/datasetStore';
import { isActivePhase, useRunStore } from '../stores/runStore';
import { ActionButton } from './ActionButton';
import { Alert } from './Alert';
import { BadRowList } from './BadRowList';
import { DatasetStatsView } from './DatasetStatsView';
import { DropZone } from './DropZone';
import { FilePicker } from './FilePicker';
import { FormatEditor } from './FormatEditor';
import { Panel } from './Panel';
import { PreviewList } from './PreviewList';
import { Progress } from './Progress';
import { NumberField, RadioGroup } from './Field';
import { HubDatasetForm } from './HubDatasetForm';
import { etaText } from '../lib/eta';

function progressText(p: DatasetProgressEvent, etaSeconds: number | null): string {
  if (p.phase === 'download') {
    const which = (p.files ?? 1) > 1 ? ` file ${(p.fileIndex ?? 0) + 1} of ${p.files}` : '';
    if (p.fromCache) return `Taking${which} from the browser’s cache: ${formatBytes(p.bytesDone)}`;
    const of = p.bytesTotal > 0 ? ` of ${formatBytes(p.bytesTotal)} (${formatPercent(p.bytesDone, p.bytesTotal)})` : '';
    return `Downloading${which}: ${formatBytes(p.bytesDone)}${of}${etaText(etaSeconds)}`;
  }
  return `Reading and tokenizing: ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} (${formatPercent(p.bytesDone, p.bytesTotal)})${etaText(etaSeconds)}`;
}

export function DatasetPanel() {
  const status = useDatasetStore((s) => s.status);
  const progress = useDatasetStore((s) => s.progress);
  const etaSeconds = useDatasetStore((s) => s.etaSeconds);
  const error = useDatasetStore((s) => s.error);
  const info = useDatasetStore((s) => s.info);
  const sourceLabel = useDatasetStore((s) => s.sourceLabel);
  const onBadRow = useDatasetStore((s) => s.onBadRow);
  const trainOn = useDatasetStore((s) => s.trainOn);
  const maxRows = useDatasetStore((s) => s.maxRows);
  const training = useRunStore((s) => isActivePhase(s.phase));
  const loading = status === 'loading';
  const locked = loading || training;

  return (
    <Panel id="dataset" step={2} title="Dataset" lede="Examples of what the model should learn to write. Plain text, instruction/answer pairs or chat conversations.">
      <div className="choices">
        <div className="choice">
          <h3>Try it first</h3>
          <p className="help">300 short stories about Bob the robot and the moon, in the demo model’s style.</p>
          <ActionButton onClick={() => void loadSampleDataset()} blockedBy={loading ? 'A dataset is loading.' : training ? 'Training is running: pause or stop it before changing the data.' : null} quietWhy>
            Use sample dataset
          </ActionButton>
        </div>
        <DropZone
          label="Dataset file drop area"
          hint={
            <>
              <strong>Your own data:</strong> drop a <code>.jsonl</code>, <code>.json</code>, <code>.csv</code>, <code>.txt</code> or <code>.parquet</code> file here (or the Parquet files of one split).
            </>
          }
          disabled={locked}
          onDrop={(d) => void loadDatasetFiles(d.files)}
        >
          <FilePicker label="Choose dataset file…" multiple accept={DATASET_ACCEPT} onFiles={(f) => void loadDatasetFiles(f)} disabled={locked} />
        </DropZone>
        <HubDatasetForm locked={locked} />
        <div className="choice options">
          <RadioGroup
            legend="Rows that cannot be used"
            value={onBadRow}
            onChange={(v) => void setBadRowPolicy(v)}
            disabled={locked}
            options={[
              { value: 'skip', label: 'Skip them and list them below' },
              { value: 'stop', label: 'Stop at the first one' },
            ]}
          />
          <RadioGroup
            legend="Train on"
            value={trainOn}
            onChange={(v) => void setTrainOn(v)}
            disabled={locked}
            options={[
              { value: 'completions', label: 'Answers only (prompts are context)' },
              { value: 'all', label: 'Every token' },
            ]}
          />
          <NumberField
            label="Row limit"
            integer
            min={0}
            value={maxRows ?? 0}
            onChange={(v) => setMaxRows(Number.isInteger(v) && v > 0 ? v : null)}
            disabled={locked}
            help="Read only the first rows, for a quick try on a big dataset (0: every row)."
            testId="dataset-max-rows"
          />
        </div>
      </div>

      {status === 'waiting' && (
        <p role="status" className="status-block">
          {sourceLabel} will be read as soon as a model is loaded in step 1: it is tokenized with that model’s tokenizer.
        </p>
      )}
      {loading && (
        <div className="status-block" role="status">
          <p>{progress?.phase === 'download' ? 'Downloading' : 'Reading'} {sourceLabel}…</p>
          <Progress label="Dataset loading progress" value={progress ? progress.bytesDone : null} max={progress?.bytesTotal || 1} text={progress ? progressText(progress, etaSeconds) : 'Starting…'} />
        </div>
      )}
      {error && <Alert testId="dataset-error">{error}</Alert>}
      {info && (
        <div className="dataset-info" data-testid="dataset-info">
          <p className="loaded">
            Loaded <strong>{info.name}</strong>: {info.trainExamples} training and {info.validationExamples} validation sequences.
          </p>
          {info.warnings.length > 0 && (
            <ul className="warnings" aria-label="Dataset warnings">
              {info.warnings.map((w, i) => (
                <li key={i}>{w}</li>
              ))}
            </ul>
          )}
          <div className="dataset-grid">
            <FormatEditor format={info.format} disabled={locked} />
            <DatasetStatsView stats={info.stats} />
          </div>
          <PreviewList examples={info.preview} />
          <BadRowList rows={info.badRows} />
        </div>
      )}
    </Panel>
  );
}
