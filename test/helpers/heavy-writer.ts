// A child process writing predictions into the agent's store as fast as it can, with the
// agent's own Store and OutboxWriter and the buffer config the agent would parse. After
// every commit it prints `c <last seq>`: a line is printed only once the commit returned,
// so the parent knows which rows the store promised to keep. Arguments: DB_PATH SEED.
import { pino } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { BufferSchema } from '../../agent/config/schema.js';
import { mulberry32 } from '../../agent/sources/camera/prng.js';

const [path, seedText] = process.argv.slice(2);
const seed = Number(seedText ?? 1);
const random = mulberry32(seed);
const log = pino({ level: 'silent' });
const config = BufferSchema.parse({ path, lingerMs: 2 });
const store = new Store({ config, log, flagBelowScore: 0.6 });
const writer = new OutboxWriter({
  outbox: store.outbox,
  events: store.events,
  log,
  batchSize: config.batchSize,
  lingerMs: config.lingerMs,
  quota: store.quota!,
  onCommit: (c) => process.stdout.write(`c ${c.last}\n`),
});
process.stdout.write(`ready ${store.outbox.lastSeq()}\n`);
let i = 0;
for (;;) {
  const burst = 1 + Math.floor(random() * 200);
  const writes = [];
  for (let k = 0; k < burst; k++, i++) {
    const score = random();
    writes.push(writer.add({ ts: Date.now(), source: 'cam-1', frameId: `s${seed}-${i}`, model: 'pcb-aoi', modelVersion: '1.0.0', label: score < 0.5 ? 'scratch' : 'ok', score, topK: [{ label: 'ok', score }], latencyMs: random() * 20 }));
  }
  await Promise.all(writes);
}
