import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './child.js';
import type { CleanupHost } from './tmp.js';
import { waitFor } from './wait.js';

/** Debian's Chromium; CHROMIUM_PATH points elsewhere (or nowhere, to see the skip). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots go here. */
export const OUTPUT = join(REPO_ROOT, 'test', 'output');
/** Set by the status page once its first /api/status answer is on screen. */
export const RENDERED = "performance.getEntriesByName('status-rendered').length > 0";

/** The `skip` option of a browser test: false when Chromium is there, else why not. */
export const noBrowser: string | false = existsSync(CHROMIUM)
  ? false
  : `browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it when it can)`;

/** A headless Chromium, closed after `host`. */
export async function launchBrowser(host: CleanupHost): Promise<Browser> {
  mkdirSync(OUTPUT, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  host.after(() => browser.close());
  return browser;
}

/**
 * Waits until `expression` holds in the page. Browser code goes as text (the tests compile
 * without DOM types), polled from here: waitForFunction would compile it inside the page,
 * which the page's own Content-Security-Policy forbids, as it should.
 */
export async function until(page: Page, what: string, expression: string, timeoutMs = 5000): Promise<void> {
  await waitFor(what, async () => (await page.evaluate(expression)) === true, timeoutMs, 50);
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(OUTPUT, name), fullPage: true });
}
