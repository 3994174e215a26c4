import { inspect } from 'node:util';
import { soakFigures, type SoakRequest } from './bench-soak.js';
import { loadInputs } from './inputs.js';

// The memory soak in a process of its own, started by bench-soak.ts with the deployed allocator
// settings: progress lines to stderr, the figures as one JSON line to stdout.
const req = JSON.parse(process.argv[2] ?? '{}') as SoakRequest;
try {
  const inputs = await loadInputs(req.dir);
  const figures = await soakFigures(inputs, req.broker, req.dir, req.opts, (s) => process.stderr.write(`${s}\n`));
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`${inspect(err)}\n`);
  process.exit(1);
}
