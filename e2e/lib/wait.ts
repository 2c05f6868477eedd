// Bounded waits for what Playwright does not bound itself: page.evaluate (engine calls through the
// page), Node-side promises (a test server closing, a download being saved). A wait that runs out
// fails with what it waited for, instead of the test's overall timeout pointing at nothing.

/** Resolves with `work`, or fails after `ms` with "Timed out after N s waiting for `what`". */
export async function within<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${Math.round(ms / 1000)} s waiting for ${what}.`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
