import { extname } from 'node:path';

/** What the hot folder does with a name it finds. */
export type NameVerdict = 'image' | 'ignore' | 'wrong-extension';

/*
 * Writers that rename into place (FTP servers, WinSCP, browsers, rsync, editors)
 * write under these names first; touching them would steal a half-written file.
 */
const IN_PROGRESS_SUFFIXES = ['.tmp', '.part', '.partial', '.crdownload', '.filepart', '~'];

// Windows shares drop these into every folder an Explorer window opened; rejecting
// them would only make Explorer write them again and flood the audit trail.
const SHELL_LITTER = new Set(['thumbs.db', 'desktop.ini']);

/**
 * Sorts a file name found in the hot folder. Extensions compare case-insensitively
 * because controllers writing over SMB often produce `IMG_0001.JPG`.
 */
export function classifyName(name: string, extensions: readonly string[]): NameVerdict {
  const lower = name.toLowerCase();
  if (lower.startsWith('.')) return 'ignore';
  if (IN_PROGRESS_SUFFIXES.some((suffix) => lower.endsWith(suffix))) return 'ignore';
  if (SHELL_LITTER.has(lower)) return 'ignore';
  return extensions.includes(extname(lower)) ? 'image' : 'wrong-extension';
}
