import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { OpcuaConfig } from '../../config/sensor-schema.js';
import type { EventSink } from '../../events.js';
import type { TagBoard } from '../../features/tag-board.js';
import type { Quality } from '../../features/tag-sample.js';
import type { Component } from '../../lifecycle/component.js';
import type { CaptureTarget } from '../camera/trigger.js';
import { EdgeDetector } from './edge-trigger.js';
import type { LinkStatus, OpcuaLink } from './opcua-link.js';
import { WriteBack } from './write-back.js';

export interface OpcuaSourceOptions {
  config: OpcuaConfig;
  /** Relative paths (PKI folder, user certificates) are resolved against it. */
  baseDir: string;
  board: TagBoard;
  /** Triggered cameras by source id, for `opcua.triggers`. */
  cameras: ReadonlyMap<string, CaptureTarget>;
  events: EventSink;
  log: Logger;
  clock: Clock;
}

/** A tag as the status page shows it: its quality now and how old its newest reading is. */
export interface TagView {
  name: string;
  server: string;
  quality: Quality;
  status: string;
  value: number | string | boolean | null;
  /** Source time of the newest reading. */
  ts: number | null;
  samples: number;
  duplicates: number;
}

export interface OpcuaView {
  configured: boolean;
  servers: Array<LinkStatus>;
  tags: TagView[];
  writeBack: WriteBack['stats'];
}

/**
 * The OPC-UA side of the agent: the client PKI, one link per server feeding the tag
 * board, camera triggers on tag edges, and the write-back of results to the PLC.
 */
export class OpcuaSource implements Component {
  readonly name = 'opcua';
  readonly links = new Map<string, OpcuaLink>();
  readonly writeBack: WriteBack;

  constructor(private readonly o: OpcuaSourceOptions) {
    // Declared now, so the pipeline's windows and validators know every tag before the first connect.
    for (const server of o.config.servers) for (const t of server.tags) o.board.addTag(t.name, server.id);
    this.writeBack = new WriteBack({ links: this.links, events: o.events, log: o.log.child({ component: 'opcua-write' }) });
  }

  /** What the agent knows about every tag now. */
  get board(): TagBoard {
    return this.o.board;
  }

  get pkiDir(): string {
    return resolve(this.o.baseDir, this.o.config.pkiDir);
  }

  async start(): Promise<void> {
    const { config, board, log, clock, events } = this.o;
    if (config.servers.length === 0) return;
    // node-opcua is loaded only by gateways that use it: it costs a camera-only agent
    // about 60 MB and half a second at start.
    const [{ routeLibraryLogs }, { OpcuaLink }, { openPki }] = await Promise.all([import('./library-log.js'), import('./opcua-link.js'), import('./pki.js')]);
    routeLibraryLogs(log);
    const pki = await openPki(this.pkiDir, config.applicationName);
    for (const server of config.servers) {
      const link = new OpcuaLink({
        config: server,
        pki,
        applicationName: config.applicationName,
        baseDir: this.o.baseDir,
        board,
        events,
        log: log.child({ component: `opcua:${server.id}` }),
        clock,
        trustHint: `edge-agent opcua trust --pki ${this.pkiDir}`,
      });
      this.links.set(server.id, link);
    }
    this.wireTriggers();
    for (const link of this.links.values()) link.start();
  }

  async stop(): Promise<void> {
    await this.writeBack.stop();
    await Promise.all([...this.links.values()].map((l) => l.stop()));
  }

  view(): OpcuaView {
    const tags: TagView[] = [...this.o.board.tags.values()].map((t) => {
      const latest = t.window.latest();
      const reading = t.lastReading;
      return {
        name: t.name,
        server: t.server,
        quality: latest?.quality ?? 'bad',
        status: latest?.status ?? 'BadWaitingForInitialData',
        value: latest && !latest.gap && latest.quality === 'good' ? latest.value : null,
        ts: reading?.sourceTs ?? null,
        samples: t.samples,
        duplicates: t.duplicates,
      };
    });
    return { configured: this.o.config.servers.length > 0, servers: [...this.links.values()].map((l) => ({ ...l.status })), tags, writeBack: { ...this.writeBack.stats } };
  }

  /** A part-present edge asks its camera for a picture, naming the part read from the PLC. */
  private wireTriggers(): void {
    const { config, board, cameras, log } = this.o;
    for (const t of config.triggers) {
      const camera = cameras.get(t.camera);
      if (!camera) continue;
      const edges = new EdgeDetector(t.edge);
      board.onSample((s) => {
        if (s.tag !== t.tag || !edges.feed(s)) return;
        // The part id and the bit usually change in one publish; read it once that publish is in.
        setImmediate(() => {
          const id = t.partIdTag ? board.tags.get(t.partIdTag)?.lastReading : undefined;
          const partId = id && id.quality === 'good' && id.value !== null ? String(id.value) : undefined;
          log.debug({ trigger: t.tag, camera: t.camera, partId }, 'capture triggered');
          camera.capture({ ts: s.sourceTs, ...(partId === undefined ? {} : { partId }) });
        });
      });
    }
  }
}
