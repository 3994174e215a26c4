import { z } from 'zod';
import { parsePayload } from '../../protocol/parse.js';
import { AgentError } from '../errors.js';
import type { GivenLabel } from './feedback.js';

/** What the status page's label action takes. */
const LabelBody = z.strictObject({
  seq: z.number().int().positive(),
  label: z.string().min(1).max(200),
  by: z.string().min(1).max(200).default('operator'),
});

/** The label in a status action's body; AgentError `E_BAD_REQUEST` naming what is wrong. */
export function labelFromBody(body: Buffer): GivenLabel {
  const parsed = parsePayload(LabelBody, body, 4096);
  if (!parsed.ok) throw new AgentError('E_BAD_REQUEST', `label: ${parsed.reason}`);
  return parsed.value;
}
