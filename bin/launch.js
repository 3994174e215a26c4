// Runs a command's compiled code when it has been built (`npm run build`), its TypeScript
// sources through tsx otherwise, and exits with the code its `main` returns.
import { existsSync } from 'node:fs';

/** `folder` is `agent` or `central`: where the command's `cli.ts` lives. */
export async function launch(folder) {
  const built = new URL(`../dist/${folder}/cli.js`, import.meta.url);
  let entry = built.href;
  if (!existsSync(built)) {
    const { register } = await import('tsx/esm/api');
    register();
    entry = new URL(`../${folder}/cli.ts`, import.meta.url).href;
  }
  const { main } = await import(entry);
  process.exit(await main(process.argv.slice(2)));
}
