import { expect, test, type Page } from '@playwright/test';

// The studio page with the engine worker as it is: every panel renders, is named, reachable by
// keyboard, readable at both common desktop sizes and in both colour schemes.

const PANELS = [
  { id: 'model', heading: 'Model' },
  { id: 'dataset', heading: 'Dataset' },
  { id: 'job', heading: 'Training job' },
  { id: 'run', heading: 'Run' },
  { id: 'playground', heading: 'Playground' },
  { id: 'export', heading: 'Export' },
];

async function openStudio(page: Page) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  // The engine has started when the GPU panel names the adapter.
  await expect(page.getByTestId('adapter-name')).not.toBeEmpty();
  return errors;
}

test('all six steps render as named regions, in order', async ({ page }) => {
  const errors = await openStudio(page);
  for (const p of PANELS) {
    const region = page.getByRole('region', { name: p.heading, exact: true });
    await expect(region).toBeVisible();
    await expect(region.getByRole('heading', { level: 2, name: p.heading, exact: true })).toBeVisible();
  }
  const ids = await page.locator('main > section').evaluateAll((els) => els.map((e) => e.id));
  expect(ids).toEqual(PANELS.map((p) => p.id));
  // The step list links to each panel.
  const nav = page.getByRole('navigation', { name: 'Steps' });
  for (const p of PANELS) await expect(nav.getByRole('link', { name: new RegExp(p.heading) })).toHaveAttribute('href', `#${p.id}`);
  // The GPU panel from before is still there.
  await expect(page.getByRole('heading', { name: 'GPU', exact: true })).toBeVisible();
  expect(errors).toEqual([]);
});

test('the main controls are labelled and reached by Tab in step order', async ({ page }) => {
  await openStudio(page);
  // Every control has an accessible name: these lookups fail if a label is missing.
  await expect(page.getByRole('button', { name: 'Use demo model (stories260K)' })).toBeVisible();
  await expect(page.getByLabel('Choose model folder…')).toBeAttached();
  await expect(page.getByLabel('Choose model files…')).toBeAttached();
  await expect(page.getByLabel('Hugging Face repo id')).toBeVisible();
  await expect(page.getByLabel('Revision')).toBeVisible();
  await expect(page.getByLabel('Choose dataset file…')).toBeAttached();
  await expect(page.getByLabel('Learning rate', { exact: true })).toBeVisible();
  await expect(page.getByLabel('Rank (r)')).toBeVisible();
  await expect(page.getByLabel('Prompt', { exact: true })).toBeVisible();
  await expect(page.getByLabel('Temperature')).toBeVisible();

  const wanted = [
    'Use demo model (stories260K)',
    'Choose model folder…',
    'Hugging Face repo id',
    'Use sample dataset',
    'Choose dataset file…',
    'Quick try',
    'Rank (r)',
    'Learning rate',
    'Start training',
    'Pause',
    'Prompt',
    'Generate',
    'Download PEFT adapter',
    'Choose adapter files…',
  ];
  const seen: string[] = [];
  await page.locator('body').click({ position: { x: 1, y: 1 } });
  for (let i = 0; i < 160 && seen.length < 400; i++) {
    await page.keyboard.press('Tab');
    const name = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return '';
      const labelled = el.getAttribute('aria-label');
      if (labelled) return labelled;
      const byId = el.id ? document.querySelector(`label[for="${CSS.escape(el.id)}"]`) : null;
      if (byId) return byId.textContent?.trim() ?? '';
      const wrap = el.closest('label');
      if (wrap) return wrap.textContent?.trim() ?? '';
      return el.textContent?.trim() ?? '';
    });
    seen.push(name);
  }
  const positions = wanted.map((w) => seen.findIndex((s) => s === w || s.startsWith(`${w} `) || (w === 'Quick try' && s.startsWith('Quick try'))));
  for (let i = 0; i < wanted.length; i++) expect(positions[i], `Tab reaches “${wanted[i]}”`).toBeGreaterThanOrEqual(0);
  for (let i = 1; i < wanted.length; i++) expect(positions[i], `“${wanted[i]}” comes after “${wanted[i - 1]}”`).toBeGreaterThan(positions[i - 1]);
});

test('focus is visible on buttons, file pickers and fields', async ({ page }) => {
  await openStudio(page);
  const demo = page.getByRole('button', { name: 'Use demo model (stories260K)' });
  await demo.focus();
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Tab');
  await expect(demo).toBeFocused();
  expect(await demo.evaluate((el) => getComputedStyle(el).outlineStyle)).not.toBe('none');
  const folder = page.getByLabel('Choose model folder…');
  await folder.focus();
  const ring = await folder.evaluate((el) => getComputedStyle(el.closest('label')!).outlineStyle);
  expect(ring).not.toBe('none');
});

test('the job form validates as you type and presets fill it in', async ({ page }) => {
  await openStudio(page);
  const job = page.getByRole('region', { name: 'Training job' });
  const rank = job.getByLabel('Rank (r)');
  await rank.fill('0');
  await expect(rank).toHaveAttribute('aria-invalid', 'true');
  await expect(job.getByText('Rank must be a whole number from 1 to 256')).toBeVisible();
  await expect(job.getByText(/1 setting needs fixing/)).toBeVisible();
  const lr = job.getByLabel('Learning rate', { exact: true });
  await lr.fill('2e-');
  await expect(lr).toHaveValue('2e-');
  await expect(lr).toHaveAttribute('aria-invalid', 'true');
  await job.getByRole('button', { name: /^Thorough/ }).click();
  await expect(rank).toHaveValue('16');
  await expect(rank).not.toHaveAttribute('aria-invalid', 'true');
  await expect(lr).toHaveValue('0.001');
  await expect(job.getByRole('button', { name: /^Thorough/ })).toHaveAttribute('aria-pressed', 'true');
  await expect(job.getByLabel('Epochs')).toHaveValue('2');
  // Each field carries its one-line explanation.
  await expect(lr).toHaveAccessibleDescription(/Step size of AdamW/);
  // Start is blocked, and says why.
  await expect(page.getByTestId('start-training')).toHaveAttribute('aria-disabled', 'true');
  await expect(page.getByRole('region', { name: 'Run' }).getByText('Load a model in step 1 first.')).toBeVisible();
});

for (const size of [
  { width: 1280, height: 800 },
  { width: 1920, height: 1080 },
]) {
  for (const scheme of ['light', 'dark'] as const) {
    test(`screenshots of every panel at ${size.width}x${size.height}, ${scheme}`, async ({ page }, testInfo) => {
      await page.setViewportSize(size);
      await page.emulateMedia({ colorScheme: scheme });
      await openStudio(page);
      const bg = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--bg').trim());
      expect(bg).toBe(scheme === 'dark' ? '#151518' : '#f7f7f5');
      // Nothing sticks out sideways at this width.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      const tag = `${size.width}x${size.height}-${scheme}`;
      await page.screenshot({ path: testInfo.outputPath(`page-${tag}.png`) });
      for (const p of PANELS) {
        const region = page.locator(`#${p.id}`);
        await region.scrollIntoViewIfNeeded();
        await region.screenshot({ path: testInfo.outputPath(`${p.id}-${tag}.png`) });
      }
      await page.screenshot({ path: testInfo.outputPath(`full-${tag}.png`), fullPage: true });
    });
  }
}
