import { AttributeIds, BrowseDirection, DataType, MessageSecurityMode, NodeClass, OPCUAClient, SecurityPolicy, type ClientSession } from 'node-opcua';
import { errorMessage } from '../../errors.js';
import type { ClientPki } from './pki.js';

/** One variable found by browsing: what an OT engineer copies into `opcua.servers[].tags`. */
export interface BrowsedVariable {
  nodeId: string;
  path: string;
  dataType: string;
  value: string;
}

export interface BrowseOptions {
  endpoint: string;
  pki: ClientPki;
  applicationName: string;
  securityMode: keyof typeof MessageSecurityMode;
  securityPolicy: keyof typeof SecurityPolicy;
  /** Folders deep below Objects; 0 lists Objects' children only. */
  depth: number;
  /** At most this many variables, so browsing a large server stays quick. */
  limit: number;
}

/** Connects once (trust rules apply) and lists the variables under the Objects folder. */
export async function browseVariables(o: BrowseOptions): Promise<BrowsedVariable[]> {
  const client = OPCUAClient.create({
    applicationName: o.applicationName,
    applicationUri: o.pki.applicationUri,
    securityMode: MessageSecurityMode[o.securityMode],
    securityPolicy: SecurityPolicy[o.securityPolicy],
    clientCertificateManager: o.pki.manager,
    certificateFile: o.pki.certificateFile,
    privateKeyFile: o.pki.privateKeyFile,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 500 },
  });
  await client.connect(o.endpoint);
  try {
    const session = await client.createSession();
    try {
      const found: BrowsedVariable[] = [];
      await walk(session, 'ns=0;i=85', '', o.depth, o.limit, found, new Set());
      return found;
    } finally {
      await session.close().catch(() => undefined);
    }
  } finally {
    await client.disconnect().catch(() => undefined);
  }
}

async function walk(session: ClientSession, nodeId: string, path: string, depth: number, limit: number, out: BrowsedVariable[], seen: Set<string>): Promise<void> {
  if (seen.has(nodeId) || out.length >= limit) return;
  seen.add(nodeId);
  const result = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: 'HierarchicalReferences', includeSubtypes: true, resultMask: 63 });
  for (const ref of result.references ?? []) {
    if (out.length >= limit) return;
    const id = ref.nodeId.toString();
    const name = `${path}/${ref.browseName.name ?? ''}`;
    // Namespace 0 is the server's own diagnostics; the plant's tags live in other namespaces.
    if (ref.nodeId.namespace === 0 && ref.nodeClass !== NodeClass.Object) continue;
    if (ref.nodeClass === NodeClass.Variable) out.push(await describe(session, id, name));
    if (ref.nodeClass === NodeClass.Object && depth > 0 && !(ref.nodeId.namespace === 0 && ref.browseName.name === 'Server')) {
      await walk(session, id, name, depth - 1, limit, out, seen);
    }
  }
}

async function describe(session: ClientSession, nodeId: string, path: string): Promise<BrowsedVariable> {
  try {
    const [value, type] = await session.read([
      { nodeId, attributeId: AttributeIds.Value },
      { nodeId, attributeId: AttributeIds.DataType },
    ]);
    const dt = type?.value.value?.value;
    const shown = value?.statusCode.isGood() ? JSON.stringify(value.value.value) ?? 'null' : (value?.statusCode.name ?? '?');
    return { nodeId, path, dataType: typeof dt === 'number' && DataType[dt] ? DataType[dt]! : String(type?.value.value ?? '?'), value: shown.slice(0, 40) };
  } catch (err) {
    return { nodeId, path, dataType: '?', value: errorMessage(err) };
  }
}
