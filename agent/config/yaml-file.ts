import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError } from './config-error.js';

/**
 * Reads a YAML file that must hold a mapping; every way it can fail is one clear line
 * naming the file: unreadable, empty, not YAML (the first parser error), not a mapping.
 * `noun` names the file in those lines ("config", "settings"); `hint` says what the mapping holds.
 */
export function readYamlMapping(file: string, noun: string, hint: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory, not a file' : (err as Error).message;
    throw new ConfigError(file, [`cannot read ${noun}: ${why}`]);
  }
  if (text.trim() === '') throw new ConfigError(file, [`${noun} file is empty`]);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One YAML slip often cascades into many parser errors; the first is the one to fix.
    const first = doc.errors[0]?.message.split('\n')[0]?.replace(/:$/, '');
    const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more parser errors after it)` : '';
    throw new ConfigError(file, [`not valid YAML: ${first}${more}`]);
  }
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, [`${noun} must be a YAML mapping ${hint}`]);
  return raw as Record<string, unknown>;
}
