import { resolve } from 'node:path';
import { pino } from 'pino';
import { z } from 'zod';
import { SecurityModes, SecurityPolicies } from '../../config/sensor-schema.js';
import { loadConfig } from '../../config/load.js';
import { errorMessage } from '../../errors.js';
import { browseVariables } from './browse.js';
import { routeLibraryLogs } from './library-log.js';
import { listCertificates, openPki, trustRejected } from './pki.js';
import { OPCUA_USAGE } from './opcua-usage.js';

const BrowseArgs = z.strictObject({
  securityMode: z.enum(SecurityModes).default('None'),
  securityPolicy: z.enum(SecurityPolicies).default('None'),
  depth: z.coerce.number().int().min(0).max(10).default(3),
});

export interface OpcuaCommandArgs {
  positionals: string[];
  config?: string | undefined;
  pki?: string | undefined;
  securityMode?: string | undefined;
  securityPolicy?: string | undefined;
  depth?: string | undefined;
}

/** The PKI folder: given directly, or the one the agent's config uses. */
function pkiDirOf(args: OpcuaCommandArgs): { dir: string; applicationName: string } {
  if (args.pki) return { dir: resolve(args.pki), applicationName: 'edge-agent' };
  if (!args.config) throw new Error('give --config FILE (the agent config) or --pki DIR');
  const { config, baseDir } = loadConfig(args.config);
  return { dir: resolve(baseDir, config.opcua.pkiDir), applicationName: config.opcua.applicationName };
}

/** `edge-agent opcua ...`; returns the exit code. */
export async function opcuaCommand(args: OpcuaCommandArgs): Promise<number> {
  const [, sub, arg] = args.positionals;
  try {
    if (sub === 'trust') return trust(args, arg);
    if (sub === 'browse') return await browse(args, arg);
    console.error(`edge-agent: opcua needs a subcommand: trust or browse\n\n${OPCUA_USAGE}`);
    return 2;
  } catch (err) {
    console.error(`edge-agent: ${errorMessage(err)}`);
    return 1;
  }
}

function trust(args: OpcuaCommandArgs, which: string | undefined): number {
  const { dir } = pkiDirOf(args);
  if (!which) {
    const rejected = listCertificates(resolve(dir, 'rejected'));
    if (rejected.length === 0) console.log(`no rejected server certificates in ${resolve(dir, 'rejected')}`);
    for (const c of rejected) console.log(`${c.thumbprint}  ${c.subject}  ${c.applicationUri ?? ''}\n    ${c.file}`);
    return 0;
  }
  const c = trustRejected(dir, which);
  console.log(`trusted ${c.subject} (${c.thumbprint}); now in ${c.file}`);
  return 0;
}

async function browse(args: OpcuaCommandArgs, endpoint: string | undefined): Promise<number> {
  if (!endpoint || !/^opc\.tcp:\/\//.test(endpoint)) throw new Error('browse needs an ENDPOINT such as opc.tcp://10.0.3.20:4840');
  const parsed = BrowseArgs.safeParse({ securityMode: args.securityMode, securityPolicy: args.securityPolicy, depth: args.depth });
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `--${i.path.join('.').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`).join('; '));
  const { dir, applicationName } = pkiDirOf(args);
  routeLibraryLogs(pino({ level: 'silent' }));
  const pki = await openPki(dir, applicationName);
  try {
    const vars = await browseVariables({ endpoint, pki, applicationName, ...parsed.data, limit: 2000 });
    for (const v of vars) console.log(`${v.nodeId.padEnd(36)} ${v.dataType.padEnd(10)} ${v.value.padEnd(24)} ${v.path}`);
    console.log(`${vars.length} variables`);
    return 0;
  } catch (err) {
    const rejected = listCertificates(pki.rejectedDir);
    const hint = /certificate/i.test(errorMessage(err)) && rejected.length > 0 ? `; the server's certificate was filed in ${pki.rejectedDir}: trust it with edge-agent opcua trust --pki ${dir} ${rejected.at(-1)!.thumbprint.slice(0, 16)}` : '';
    throw new Error(`browse ${endpoint} failed: ${errorMessage(err)}${hint}`);
  } finally {
    await pki.manager.dispose().catch(() => undefined);
  }
}
