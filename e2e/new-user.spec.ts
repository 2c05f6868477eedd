import { expect, test } from '@playwright/test';

// A new user's first clicks, as quick as they come: nothing may fail because the engine worker
// or the GPU behind it was still starting when the page already showed the buttons.

test('"Use demo model" clicked the moment the page shows loads the model (the action waits for the GPU)', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const demo = page.getByRole('button', { name: 'Use demo model (stories260K)' });
  // no wait for the GPU panel: the click comes as soon as the button can be clicked
  await demo.click();
  await expect(page.getByTestId('model-name')).toHaveText(/stories260K/, { timeout: 60_000 });
  await expect(page.getByTestId('model-error')).toHaveCount(0);
  await page.getByRole('button', { name: 'Use sample dataset' }).click();
  await expect(page.getByTestId('dataset-info')).toBeVisible({ timeout: 60_000 });
  expect(errors).toEqual([]);
});
