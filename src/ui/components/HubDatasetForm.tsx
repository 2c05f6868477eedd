import { useState } from 'react';
import { listHubDataset, loadHubDataset, useDatasetStore } from '../stores/datasetStore';
import { Alert } from './Alert';
import { SelectField, TextField } from './Field';

/**
 * "From Hugging Face" in the dataset step: a repo id, then its configs and splits (the Hub's
 * Parquet listing) to pick from; the split's Parquet files are downloaded into the browser's
 * cache and read like a dropped file.
 */
export function HubDatasetForm({ locked }: { locked: boolean }) {
  const hub = useDatasetStore((s) => s.hub);
  const [repo, setRepo] = useState('');
  const [endpoint, setEndpoint] = useState('');
  const [config, setConfig] = useState('');
  const [split, setSplit] = useState('');
  const listing = hub.status === 'listed' && hub.listing?.repo === repo.trim() ? hub.listing : null;
  const configs = listing?.configs ?? [];
  const chosenConfig = configs.find((c) => c.name === config) ?? configs[0];
  const splits = chosenConfig?.splits ?? [];
  const chosenSplit = splits.find((s) => s.name === split) ?? splits.find((s) => s.name === 'train') ?? splits[0];

  return (
    <form
      className="choice hub"
      aria-label="Dataset from Hugging Face"
      onSubmit={(e) => {
        e.preventDefault();
        if (locked) return;
        if (listing && chosenConfig && chosenSplit) void loadHubDataset(repo, chosenConfig.name, chosenSplit.name, endpoint);
        else void listHubDataset(repo, endpoint);
      }}
    >
      <h3>From Hugging Face</h3>
      <div className="row fields">
        <TextField label="Dataset repo id" value={repo} onChange={setRepo} placeholder="HuggingFaceH4/ultrachat_200k" />
        <TextField label="Hub endpoint" value={endpoint} onChange={setEndpoint} placeholder="https://huggingface.co" help="Empty: huggingface.co. The same Hub API at another address (a mirror on this machine)." />
      </div>
      {listing && (
        <div className="row fields">
          <SelectField label="Config" value={chosenConfig?.name ?? ''} onChange={(v) => { setConfig(v); setSplit(''); }} options={configs.map((c) => ({ value: c.name, label: c.name }))} />
          <SelectField
            label="Split"
            value={chosenSplit?.name ?? ''}
            onChange={setSplit}
            options={splits.map((s) => ({ value: s.name, label: `${s.name} (${s.files} Parquet file${s.files === 1 ? '' : 's'})` }))}
          />
        </div>
      )}
      <div className="row">
        {listing ? (
          <>
            <button type="submit" className="secondary" aria-disabled={locked || undefined}>
              Download and read
            </button>
            <button type="button" className="secondary" disabled={locked} onClick={() => void listHubDataset(repo, endpoint)}>
              List again
            </button>
          </>
        ) : (
          <button type="submit" className="secondary" aria-disabled={locked || hub.status === 'listing' || undefined}>
            {hub.status === 'listing' ? 'Listing…' : 'List configs and splits'}
          </button>
        )}
      </div>
      {hub.status === 'error' && hub.error && <Alert testId="hub-dataset-error">{hub.error}</Alert>}
      <p className="help">The Hub’s Parquet conversion of the split is fetched once and kept in this browser’s cache; nothing is uploaded.</p>
    </form>
  );
}
