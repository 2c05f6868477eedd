import { expect, test } from '@playwright/test';

test('the page loads, the worker reports an adapter, and a matmul in the worker matches the reference', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Whetstone' })).toBeVisible();

  // The worker acquired a device and described it.
  const name = page.getByTestId('adapter-name');
  await expect(name).not.toBeEmpty();
  await expect(page.getByTestId('adapter-kind')).toContainText(/Software|Hardware/);
  await expect(page.getByTestId('gpu-banner')).toHaveCount(0);

  // The matmul kernels run inside the worker and are checked against the TS reference there.
  await page.getByRole('button', { name: 'Run GPU self-test' }).click();
  const table = page.getByRole('table', { name: 'Self-test results' });
  await expect(table).toBeVisible({ timeout: 120_000 });
  const rows = table.locator('tbody tr');
  expect(await rows.count()).toBeGreaterThanOrEqual(3);
  await expect(table.getByText(/FAIL/)).toHaveCount(0);
  const resultCells = await rows.locator('td:last-child').allTextContents();
  expect(resultCells.every((t) => t === 'pass')).toBe(true);
  // 'pass' means every value within 1e-5 + 1e-5·|ref|; outputs are O(1), so abs errors stay tiny.
  const absErrs = (await rows.locator('td:nth-child(4)').allTextContents()).map(Number);
  expect(absErrs.every((e) => Number.isFinite(e) && e <= 1e-4)).toBe(true);
  expect(errors).toEqual([]);
});

test('without WebGPU the page shows a banner that names the browser to use', async ({ page }) => {
  // Hide navigator.gpu in the page and in its workers before any script runs.
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
  });
  await page.route('**/src/workers/engine.worker.ts*', async (route) => {
    const res = await route.fetch();
    const body = await res.text();
    await route.fulfill({
      response: res,
      body: `Object.defineProperty(WorkerNavigator.prototype, 'gpu', { get: () => undefined, configurable: true });\n${body}`,
    });
  });
  await page.goto('/');
  const banner = page.getByTestId('gpu-banner');
  await expect(banner).toBeVisible();
  await expect(banner).toContainText('WebGPU is not available');
  await expect(banner).toContainText(/Chrome/);
});
