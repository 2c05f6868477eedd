// A full disk, for real: Chromium's own storage quota for the page's origin is lowered through
// the DevTools protocol (Storage.overrideQuotaForOrigin), so IndexedDB itself refuses the
// checkpoint. The run pauses with a message that says what to do, nothing saved is corrupted, and
// the page stays usable.
import { expect, test } from '@playwright/test';
import { loadDemo, loadSample, openStudio } from './lib/studio';
import { within } from './lib/wait';

test('IndexedDB over quota while checkpointing: the run pauses with the way out and the page stays usable', async ({ page, context, baseURL }) => {
  test.setTimeout(300_000);
  const errors = await openStudio(page);
  await loadDemo(page);
  await loadSample(page);

  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Max steps').fill('6');
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('0');
  await job.getByLabel('Checkpoint every (steps)').fill('2');
  // rank 32 on all linears: one checkpoint (adapter + AdamW moments) is ~2.2 MB
  await job.getByLabel('Rank (r)').fill('32');
  await expect(job.getByTestId('memory-estimate')).toContainText('Fits on this GPU.');

  // A quota above a run record with its tokenized dataset (~0.25 MB, the dataset in OPFS) and far
  // below one checkpoint on its own. (With rank 4, ~0.3 MB, the checkpoint fit in a loaded CI run:
  // Chromium's quota manager counts recent writes lazily, so the dataset was not yet counted.)
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(baseURL!).origin, quotaSize: 480 * 1024 });

  const run = page.getByRole('region', { name: 'Run' });
  await page.getByTestId('start-training').click();
  const alert = run.getByRole('alert');
  await expect(alert).toContainText(/storage is full/i, { timeout: 180_000 });
  await expect(alert).toContainText(/Delete older runs/);

  // nothing half-written: the run is listed (paused, not failed) and the page still works
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(baseURL!).origin });
  const status = await within('the list of runs after the storage filled up', 60_000, page.evaluate(async () => {
    const w = window as unknown as { __whetstoneEngine?: { api: { listRuns(): Promise<{ status: string; checkpointStep: number }[]> } } };
    return (await w.__whetstoneEngine!.api.listRuns()).map((r) => `${r.status}@${r.checkpointStep}`);
  }));
  // the record could not even be updated to 'paused' while the disk was full, so it may still say
  // 'running' (the studio lists such a run as interrupted); either way it is readable and intact
  expect(status.length).toBe(1);
  expect(status[0]).toMatch(/^(paused|running)@0$/);
  await job.getByLabel('Max steps').fill('2');
  await job.getByLabel('Checkpoint every (steps)').fill('2');
  await page.getByTestId('start-training').click();
  await expect(run.getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 180_000 });
  expect(errors).toEqual([]);
});
