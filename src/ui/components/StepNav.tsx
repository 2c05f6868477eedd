import { matchingPreset } from '../lib/configEdit';
import { PRESETS } from '../../train/config';
import { useDatasetStore } from '../stores/datasetStore';
import { useJobStore } from '../stores/jobStore';
import { useModelStore } from '../stores/modelStore';
import { useRunStore } from '../stores/runStore';

type Tone = 'done' | 'todo' | 'busy' | 'problem';

/** The six steps with where each stands; links jump to the panels. */
export function StepNav() {
  const model = useModelStore((s) => s.status);
  const modelName = useModelStore((s) => s.info?.name ?? null);
  const dataset = useDatasetStore((s) => s.status);
  const datasetName = useDatasetStore((s) => s.info?.name ?? null);
  const issues = useJobStore((s) => s.issues.length);
  const preset = useJobStore((s) => matchingPreset(s.config));
  const phase = useRunStore((s) => s.phase);
  const step = useRunStore((s) => s.progress?.step ?? null);
  const total = useRunStore((s) => s.progress?.totalSteps ?? null);

  const items: { id: string; title: string; state: string; tone: Tone }[] = [
    {
      id: 'model',
      title: 'Model',
      ...(model === 'ready' ? { state: modelName ?? 'loaded', tone: 'done' } : model === 'loading' ? { state: 'loading…', tone: 'busy' } : model === 'error' ? { state: 'could not load', tone: 'problem' } : { state: 'choose one', tone: 'todo' }),
    },
    {
      id: 'dataset',
      title: 'Dataset',
      ...(dataset === 'ready' ? { state: datasetName ?? 'loaded', tone: 'done' } : dataset === 'loading' ? { state: 'reading…', tone: 'busy' } : dataset === 'waiting' ? { state: 'waiting for a model', tone: 'todo' } : dataset === 'error' ? { state: 'could not read', tone: 'problem' } : { state: 'choose one', tone: 'todo' }),
    },
    { id: 'job', title: 'Training job', ...(issues > 0 ? { state: `${issues} to fix`, tone: 'problem' } : { state: preset ? PRESETS[preset].label : 'custom settings', tone: 'done' }) },
    {
      id: 'run',
      title: 'Run',
      ...(phase === 'idle'
        ? { state: 'not started', tone: 'todo' }
        : phase === 'failed'
          ? { state: 'failed', tone: 'problem' }
          : phase === 'finished'
            ? { state: 'finished', tone: 'done' }
            : { state: step !== null && total ? `${phase} · ${step}/${total}` : phase, tone: 'busy' }),
    },
    { id: 'playground', title: 'Playground', state: 'try the model', tone: 'todo' },
    { id: 'export', title: 'Export', state: 'save the adapter', tone: 'todo' },
  ];

  return (
    <nav className="steps" aria-label="Steps">
      <ol>
        {items.map((it, i) => (
          <li key={it.id} className={`tone-${it.tone}`}>
            <a href={`#${it.id}`}>
              <span className="step-num" aria-hidden="true">
                {i + 1}
              </span>
              <span className="step-title">{it.title}</span>
              <span className="step-state">{it.state}</span>
            </a>
          </li>
        ))}
      </ol>
    </nav>
  );
}
