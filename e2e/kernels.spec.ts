import { expect, test, type Page } from '@playwright/test';
import { gotoStudio, loadDemo, loadSample } from './lib/studio';

// Kernel tuning from the GPU panel, against the real engine worker: the job's matmul shapes are
// timed on this adapter with progress, the chosen kernels are listed, the choices persist in
// IndexedDB (a reloaded page finds them without timing anything), and a run uses them.

async function openWithDemo(page: Page) {
  await gotoStudio(page);
  await loadDemo(page);
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByRole('button', { name: /^Quick try/ }).click();
  await job.getByLabel('Batch size').fill('2');
  await job.getByLabel('Sequence length').fill('64');
}

test('kernels tuned for the job with progress, kept after a reload, used by a run', async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openWithDemo(page);
  const kernels = page.getByRole('group', { name: 'Kernels', exact: true });
  const summary = kernels.getByTestId('kernel-tuning-summary');
  await expect(summary).toContainText(/none of this job's \d+ matmul shapes \(batch 2 × 64 tokens\) is tuned/);
  await kernels.getByTestId('tune-kernels').click();
  const bar = kernels.getByRole('progressbar', { name: 'Kernel tuning progress' });
  await expect(bar).toBeVisible();
  await expect(kernels).toContainText(/Shape \d+ of \d+/);
  await expect(summary).toContainText(/(\d+) of \1 matmul shapes tuned for this GPU \(batch 2 × 64 tokens\), \d+ timed just now/, { timeout: 240_000 });
  await expect(bar).toHaveCount(0);
  const total = Number((await summary.textContent())!.match(/(\d+) of/)![1]);
  await kernels.getByText(`Chosen kernels (${total})`).click();
  const rows = kernels.getByRole('table', { name: 'Tuned kernels' }).locator('tbody tr');
  await expect(rows).toHaveCount(total);
  await expect(rows.first()).toContainText(/x·Wᵀ|dy·W/);
  await kernels.scrollIntoViewIfNeeded();
  await page.screenshot({ path: testInfo.outputPath('kernels.png') });

  // A new page on the same origin finds the choices in IndexedDB: nothing is timed again.
  await page.reload();
  await openWithDemo(page);
  await expect(summary).toContainText(new RegExp(`${total} of ${total} matmul shapes tuned for this GPU \\(batch 2 × 64 tokens\\); runs use them`));
  // Other job shapes are other problems: not tuned yet.
  await page.getByRole('region', { name: 'Training job' }).getByLabel('Batch size').fill('16');
  await expect(summary).toContainText(/batch 16 × 64 tokens/);
  await page.getByRole('region', { name: 'Training job' }).getByLabel('Batch size').fill('2');
  await expect(summary).toContainText(new RegExp(`${total} of ${total} matmul shapes tuned`));

  // A run with the tuned kernels trains.
  await loadSample(page);
  const job = page.getByRole('region', { name: 'Training job' });
  await job.getByLabel('Max steps').fill('2');
  await job.getByLabel('Evaluate every (steps)').fill('0');
  await page.getByTestId('start-training').click();
  // while it trains, tuning is refused with the reason
  await expect(kernels.getByTestId('tune-kernels')).toHaveAccessibleDescription(/Pause the run first/);
  await expect(page.getByRole('region', { name: 'Run' }).getByRole('status').filter({ hasText: 'Finished' })).toBeVisible({ timeout: 120_000 });
  expect(errors).toEqual([]);
});
