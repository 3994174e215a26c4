import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { CleanupHost } from './tmp.js';

/**
 * A tmpfs of `bytes` mounted at `dir`, unmounted when `host` ends: a disk that really fills
 * up. Undefined when this process may not mount (not root, or no CAP_SYS_ADMIN).
 */
export function smallFilesystem(host: CleanupHost, dir: string, bytes: number): string | undefined {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    return undefined;
  }
  host.after(() => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  });
  return dir;
}
