// Before mqtt-packet loads, so that it keeps packet lengths in a block of their own (see the module).
import '../../protocol/mqtt-length-cache.js';
import { parseArgs } from 'node:util';
import { connectAsync, type IClientOptions } from 'mqtt';
import { errorMessage } from '../../agent/errors.js';
import { tlsClientOptions } from '../../agent/sync/client-options.js';
import { LabelCommand, labelCommandTopic } from '../../protocol/feedback.js';
import { formatIssues } from '../../protocol/parse.js';
import { DEVICE_ID_PATTERN } from '../../protocol/topics.js';
import { BROKER_OPTIONS, UsageError, brokerOptions, commandLog, failureLine, operatorName } from '../rollout/command-options.js';

const OPTIONS = {
  ...BROKER_OPTIONS,
  device: { type: 'string' },
  seq: { type: 'string' },
  label: { type: 'string' },
  by: { type: 'string' },
} as const;

/**
 * `edgectl label --device D --seq N --label L`: publishes a label command for prediction N
 * of device D (QoS 1, not retained: a label is said once). The device stores it, counts it
 * in the model's live accuracy and sends it back with the ingest stream.
 */
export async function runLabel(argv: string[]): Promise<number> {
  let values;
  let command: LabelCommand;
  try {
    values = parseArgs({ args: argv, options: OPTIONS }).values;
    if (values.device === undefined || !DEVICE_ID_PATTERN.test(values.device)) throw new UsageError('--device: a device id (letters, digits, . _ -) is required');
    if (values.seq === undefined || !/^\d{1,15}$/.test(values.seq)) throw new UsageError('--seq: the prediction\'s sequence number is required');
    const parsed = LabelCommand.safeParse({ v: 1, seq: Number(values.seq), label: values.label, by: values.by ?? operatorName() });
    if (!parsed.success) throw new UsageError(formatIssues(parsed.error.issues).replace(/^label:/, '--label:').replace(/^seq:/, '--seq:'));
    command = parsed.data;
  } catch (err) {
    console.error(`edgectl label: ${errorMessage(err)} (edgectl --help for usage)`);
    return 2;
  }
  const log = commandLog(values['log-level']);
  try {
    const opts = brokerOptions(values, 'label', log);
    const client: IClientOptions = { protocolVersion: opts.protocolVersion, clientId: opts.clientId, clean: true, reconnectPeriod: 0, connectTimeout: opts.connectTimeoutMs ?? 10_000 };
    if (opts.username !== undefined) client.username = opts.username;
    if (opts.password !== undefined) client.password = opts.password;
    if (opts.tls) Object.assign(client, tlsClientOptions(opts.tls, 'tls '));
    const mqtt = await connectAsync(opts.url, client);
    try {
      const topic = labelCommandTopic(values.prefix, values.device);
      await mqtt.publishAsync(topic, JSON.stringify(command), { qos: 1 });
      console.log(`label "${command.label}" for prediction ${command.seq} of ${values.device} published on ${topic}`);
    } finally {
      await mqtt.endAsync();
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`edgectl label: ${err.message} (edgectl --help for usage)`);
      return 2;
    }
    console.error(failureLine('label', err));
    return 1;
  }
}
