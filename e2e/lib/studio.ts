// Steps the real-engine specs share: open the studio, load the bundled demo model and sample
// dataset. (studio-fake.spec.ts has its own: the stand-in engine answers in milliseconds.)
import { expect, type Page } from '@playwright/test';

/** Loads the page and waits for the GPU adapter to be named (the engine worker is up). */
export async function gotoStudio(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('adapter-name')).not.toBeEmpty({ timeout: 60_000 });
}

/** gotoStudio, collecting the page's uncaught errors from the start (tests expect none). */
export async function openStudio(page: Page): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await gotoStudio(page);
  return errors;
}

export async function loadDemo(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Use demo model (stories260K)' }).click();
  await expect(page.getByTestId('model-name')).toHaveText(/stories260K/, { timeout: 60_000 });
}

export async function loadSample(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Use sample dataset' }).click();
  await expect(page.getByTestId('dataset-info')).toBeVisible({ timeout: 60_000 });
}
