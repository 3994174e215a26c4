import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A file of the status page, read once: the page must answer fast on a busy gateway. */
export interface PageAsset {
  body: Buffer;
  type: string;
}

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/common.js': { file: 'common.js', type: 'text/javascript; charset=utf-8' },
  '/charts.js': { file: 'charts.js', type: 'text/javascript; charset=utf-8' },
  '/oversight.js': { file: 'oversight.js', type: 'text/javascript; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * Loads the page from `agent/status/page/`. The compiled server runs from `dist/agent/status/`,
 * which holds no page, so the source folder is found from there too.
 */
export function loadPage(dir?: string): Map<string, PageAsset> {
  const candidates = dir ? [dir] : [new URL('./page/', import.meta.url), new URL('../../../agent/status/page/', import.meta.url)].map((u) => fileURLToPath(u));
  for (const folder of candidates) {
    try {
      const out = new Map<string, PageAsset>();
      for (const [path, { file, type }] of Object.entries(FILES)) out.set(path, { body: readFileSync(`${folder}/${file}`), type });
      return out;
    } catch {
      // try the next location
    }
  }
  throw new Error(`the status page files are missing (looked in ${candidates.join(', ')})`);
}
