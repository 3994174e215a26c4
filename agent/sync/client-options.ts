import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { BrokerConfig } from '../config/schema.js';
import { AgentError, errorMessage } from '../errors.js';
import type { DeviceStatus } from '../../protocol/status.js';
import { deviceTopics } from '../../protocol/topics.js';

/** Who this agent is on the broker. */
export interface DeviceIdentity {
  deviceId: string;
  site: string;
  agentVersion: string;
}

/** How long the broker keeps our session (subscriptions, queued messages) after a disconnect. */
export const SESSION_EXPIRY_S = 3600;

/** The retained status message for `state`, as sent on the device's status topic. */
export function statusPayload(id: DeviceIdentity, state: DeviceStatus['state'], ts: number): string {
  const status: DeviceStatus = { v: 1, device: id.deviceId, site: id.site, state, ts, agentVersion: id.agentVersion };
  return JSON.stringify(status);
}

/**
 * MQTT.js options for one connection attempt. Files are re-read on every attempt so a
 * rotated certificate is picked up at the next reconnect without restarting the agent.
 * MQTT.js's own reconnect is off (reconnectPeriod 0): its fixed interval would make a
 * whole fleet hammer the broker in step after an outage.
 */
export function clientOptions(config: BrokerConfig, id: DeviceIdentity, now: number, protocolVersion: 5 | 4 = config.protocolVersion): IClientOptions {
  const topics = deviceTopics(config.topicPrefix, id.deviceId);
  const options: IClientOptions = {
    protocolVersion,
    clientId: config.clientId ?? id.deviceId,
    // A persistent session keeps future subscriptions (desired state) across reconnects.
    clean: false,
    keepalive: config.keepaliveS,
    reconnectPeriod: 0,
    connectTimeout: 30_000,
    resubscribe: false,
    // MQTT.js otherwise has mqtt-packet build 65,536 two-byte Buffers at the first packet and
    // keep them for good: 6.3 MB of JS heap that every full collection marks again.
    writeCache: false,
    will: { topic: topics.status, payload: Buffer.from(statusPayload(id, 'offline', now)), qos: 1, retain: true },
    ...tlsOptions(config),
  };
  if (protocolVersion === 5) {
    // The broker drops anything bigger for us; the inbound guard checks again for MQTT 3.1.1.
    options.properties = { sessionExpiryInterval: config.sessionExpiryS ?? SESSION_EXPIRY_S, maximumPacketSize: (config.inbound?.maxBytes ?? 1024 * 1024) + 64 * 1024 };
  }
  if (config.username !== undefined) options.username = config.username;
  if (config.password !== undefined) options.password = config.password;
  return options;
}

function tlsOptions(config: BrokerConfig): IClientOptions {
  return config.tls ? tlsClientOptions(config.tls, 'broker.tls.') : {};
}

/** Paths to PEM files and TLS settings, as both the agent and edgectl take them. */
export interface TlsFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  servername?: string | undefined;
  rejectUnauthorized?: boolean | undefined;
}

/** MQTT.js TLS options with the PEM files read; a missing file is E_BROKER_TLS naming `${label}field` and the path. */
export function tlsClientOptions(tls: TlsFiles, label = ''): IClientOptions {
  const options: IClientOptions = { rejectUnauthorized: tls.rejectUnauthorized ?? true };
  if (tls.ca) options.ca = readPem(`${label}ca`, tls.ca);
  if (tls.cert) options.cert = readPem(`${label}cert`, tls.cert);
  if (tls.key) options.key = readPem(`${label}key`, tls.key);
  if (tls.servername) options.servername = tls.servername;
  return options;
}

function readPem(field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new AgentError('E_BROKER_TLS', `${field}: cannot read ${path}: ${errorMessage(err)}`, { cause: err });
  }
}
