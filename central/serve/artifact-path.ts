import { realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';

/**
 * The real path of the file a request names inside `root` (itself a real path), or
 * undefined when it names anything else: `..` or `.` segments (raw or percent-encoded),
 * encoded slashes or backslashes, NUL, hidden names (partials, `.git`), empty
 * segments, or a symlink leading out of `root`. The caller answers 404 to all of them
 * alike, so a probe learns nothing about what exists outside.
 */
export async function resolveArtifact(root: string, rawUrl: string): Promise<string | undefined> {
  const rawPath = rawUrl.split(/[?#]/, 1)[0] ?? '';
  if (!rawPath.startsWith('/')) return undefined;
  const segments: string[] = [];
  for (const raw of rawPath.slice(1).split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === '' || segment.startsWith('.') || /[/\\\0]/.test(segment)) return undefined;
    segments.push(segment);
  }
  let real: string;
  try {
    real = await realpath(join(root, ...segments));
  } catch {
    return undefined;
  }
  return real.startsWith(root + sep) ? real : undefined;
}
