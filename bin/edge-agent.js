#!/usr/bin/env node
// Runs the compiled code when it has been built (`npm run build`), the TypeScript sources otherwise.
import { existsSync } from 'node:fs';

const built = new URL('../dist/agent/cli.js', import.meta.url);
let entry = built.href;
if (!existsSync(built)) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = new URL('../agent/cli.ts', import.meta.url).href;
}
const { main } = await import(entry);
process.exit(await main(process.argv.slice(2)));
