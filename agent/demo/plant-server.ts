import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCodes,
  Variant,
  type Namespace,
  type UAObject,
  type UAVariable,
} from 'node-opcua';
import { PLANT_SIGNALS, PlantSignals, type PlantSignal, type SignalFault } from './plant-signals.js';

/** Node ids the simulated plant serves (namespace 1). */
export const PLANT_NODES = {
  Vibration: 'ns=1;s=Plant.Vibration',
  Temperature: 'ns=1;s=Plant.Temperature',
  Pressure: 'ns=1;s=Plant.Pressure',
  MotorCurrent: 'ns=1;s=Plant.MotorCurrent',
  /** A setpoint that never changes: after a re-subscription the server sends the same reading again. */
  Setpoint: 'ns=1;s=Plant.Setpoint',
  PartPresent: 'ns=1;s=Plant.PartPresent',
  PartId: 'ns=1;s=Plant.PartId',
  /** Writable: where the agent writes a health score or a reject decision. */
  HealthScore: 'ns=1;s=Plant.HealthScore',
  RejectGate: 'ns=1;s=Plant.RejectGate',
  /** Read-only: a write to it always fails. */
  Locked: 'ns=1;s=Plant.Locked',
} as const;

export const benchNodeId = (i: number) => `ns=1;s=Bench.T${String(i).padStart(4, '0')}`;

export interface PlantServerOptions {
  port: number;
  /** The server's own PKI: its certificate is created here once and kept across restarts. */
  pkiDir: string;
  /** Milliseconds between signal updates. */
  tickMs?: number;
  /** A part passes every `partCycleMs`; 0 for no parts. */
  partCycleMs?: number;
  /** Extra counter tags (Bench.T0000 …), each incremented every tick, for the benchmark. */
  benchTags?: number;
  /** User name → password, for username identities. */
  users?: Record<string, string>;
  seed?: number;
}

/**
 * A pump line as an OPC-UA server: the four plant signals, a part-present bit with the
 * part's id, writable targets for the agent's results, optional benchmark counters.
 * Client certificates are accepted automatically: it is a simulator, the agent is what
 * is under test.
 */
export class PlantServer {
  readonly signals: PlantSignals;
  private server: OPCUAServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly vars = new Map<string, UAVariable>();
  private readonly bench: UAVariable[] = [];
  private partNo = 0;
  private partTimer: NodeJS.Timeout | undefined;
  /** Ticks done, and values written by clients, by node id. */
  ticks = 0;
  readonly writes = new Map<string, unknown[]>();

  constructor(private readonly o: PlantServerOptions) {
    this.signals = new PlantSignals(o.seed ?? 1);
  }

  get endpoint(): string {
    return `opc.tcp://127.0.0.1:${this.o.port}`;
  }

  /** The server's certificate file, for a client to trust. */
  get certificateFile(): string {
    return join(this.o.pkiDir, 'own', 'certs', 'plant_server.pem');
  }

  async start(): Promise<void> {
    const serverCertificateManager = new OPCUACertificateManager({ rootFolder: this.o.pkiDir, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
    await serverCertificateManager.initialize();
    // X.509 user identities (operators' certificates) are accepted like client certificates.
    const userCertificateManager = new OPCUACertificateManager({ rootFolder: join(this.o.pkiDir, 'users'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
    await userCertificateManager.initialize();
    const users = this.o.users ?? {};
    this.server = new OPCUAServer({
      port: this.o.port,
      hostname: 'localhost',
      alternateHostname: ['127.0.0.1', hostname()],
      serverCertificateManager,
      userCertificateManager,
      certificateFile: this.certificateFile,
      privateKeyFile: serverCertificateManager.privateKey,
      securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss],
      allowAnonymous: true,
      userManager: { isValidUser: (user: string, password: string) => users[user] !== undefined && users[user] === password },
      serverInfo: { applicationUri: `urn:${hostname()}:edge-agent-plant`, productUri: 'edge-agent-plant', applicationName: { text: 'edge-agent simulated plant' } },
      buildInfo: { productName: 'edge-agent simulated plant' },
    });
    await this.server.initialize();
    this.build(this.server.engine.addressSpace!.getOwnNamespace());
    await this.server.start();
    const tickMs = this.o.tickMs ?? 100;
    this.timer = setInterval(() => this.tick(), tickMs);
    this.tick();
    const cycle = this.o.partCycleMs ?? 2000;
    if (cycle > 0) this.partTimer = setInterval(() => this.nextPart(Math.min(500, cycle / 2)), cycle);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.partTimer);
    await this.server?.shutdown(0);
    this.server = undefined;
  }

  inject(signal: PlantSignal, fault: SignalFault | 'clear'): void {
    this.signals.inject(signal, fault);
  }

  private build(ns: Namespace): void {
    const plant = ns.addObject({ organizedBy: ns.addressSpace.rootFolder.objects, browseName: 'Plant' });
    const add = (parent: UAObject, key: string, nodeId: string, dataType: DataType, value: unknown, writable = false) => {
      const v = ns.addVariable({ componentOf: parent, browseName: key, nodeId, dataType, minimumSamplingInterval: 10, accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead', userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead' });
      v.setValueFromSource(new Variant({ dataType, value }), StatusCodes.Good, new Date());
      if (writable) {
        v.on('value_changed', (dv) => {
          const list = this.writes.get(nodeId) ?? [];
          list.push(dv.value.value);
          this.writes.set(nodeId, list);
        });
      }
      this.vars.set(nodeId, v);
      return v;
    };
    for (const s of PLANT_SIGNALS) add(plant, s, PLANT_NODES[s], DataType.Double, 0);
    add(plant, 'Setpoint', PLANT_NODES.Setpoint, DataType.Double, 42.5);
    add(plant, 'PartPresent', PLANT_NODES.PartPresent, DataType.Boolean, false);
    add(plant, 'PartId', PLANT_NODES.PartId, DataType.String, '');
    add(plant, 'HealthScore', PLANT_NODES.HealthScore, DataType.Double, 0, true);
    add(plant, 'RejectGate', PLANT_NODES.RejectGate, DataType.Boolean, false, true);
    add(plant, 'Locked', PLANT_NODES.Locked, DataType.Double, 0);
    const n = this.o.benchTags ?? 0;
    if (n > 0) {
      const bench = ns.addObject({ organizedBy: ns.addressSpace.rootFolder.objects, browseName: 'Bench' });
      for (let i = 0; i < n; i++) this.bench.push(add(bench, `T${String(i).padStart(4, '0')}`, benchNodeId(i), DataType.Double, 0));
    }
  }

  private tick(): void {
    const now = new Date();
    this.ticks++;
    this.signals.step((this.o.tickMs ?? 100) / 1000);
    for (const s of PLANT_SIGNALS) {
      const r = this.signals.read(s, now.getTime());
      if (!r.publish) continue;
      const status = r.status === 'Good' ? StatusCodes.Good : StatusCodes.BadSensorFailure;
      this.vars.get(PLANT_NODES[s])!.setValueFromSource(new Variant({ dataType: DataType.Double, value: r.value }), status, now);
    }
    for (const v of this.bench) v.setValueFromSource(new Variant({ dataType: DataType.Double, value: this.ticks }), StatusCodes.Good, now);
  }

  private nextPart(holdMs: number): void {
    this.partNo++;
    const now = new Date();
    this.vars.get(PLANT_NODES.PartId)!.setValueFromSource(new Variant({ dataType: DataType.String, value: `P-${String(this.partNo).padStart(6, '0')}` }), StatusCodes.Good, now);
    this.vars.get(PLANT_NODES.PartPresent)!.setValueFromSource(new Variant({ dataType: DataType.Boolean, value: true }), StatusCodes.Good, new Date(now.getTime() + 1));
    setTimeout(() => this.vars.get(PLANT_NODES.PartPresent)?.setValueFromSource(new Variant({ dataType: DataType.Boolean, value: false }), StatusCodes.Good, new Date()), holdMs).unref();
  }
}
