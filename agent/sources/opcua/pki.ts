import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';
import { AgentError } from '../../errors.js';

/** The client's PKI: its own certificate and key, and the servers it trusts or rejected. */
export interface ClientPki {
  manager: OPCUACertificateManager;
  /** Re-reads trusted/ and rejected/ from disk, after an operator trusted a certificate. */
  reload(): Promise<void>;
  certificateFile: string;
  privateKeyFile: string;
  applicationUri: string;
  rejectedDir: string;
  trustedDir: string;
}

/** `urn:<host>:<name>`: the URI the application certificate carries and servers check. */
export function applicationUriOf(applicationName: string): string {
  return `urn:${hostname()}:${applicationName}`;
}

/**
 * Opens the PKI folder, creating it and the application certificate on first start.
 * Unknown server certificates are never accepted: they land in `rejected/`.
 */
export async function openPki(dir: string, applicationName: string): Promise<ClientPki> {
  mkdirSync(dir, { recursive: true });
  // No file watchers: the folders are re-read when a refused server is tried again, and a
  // gateway should not hold inotify watches for a folder that changes twice a year.
  const open = async () => {
    const m = new OPCUACertificateManager({ rootFolder: dir, automaticallyAcceptUnknownCertificate: false, name: 'pki', disableFileWatchers: true });
    await m.initialize();
    return m;
  };
  const manager = await open();
  const applicationUri = applicationUriOf(applicationName);
  const certificateFile = join(dir, 'own', 'certs', 'client_certificate.pem');
  if (!existsSync(certificateFile)) {
    await manager.createSelfSignedCertificate({
      applicationUri,
      dns: [hostname(), 'localhost'],
      ip: [],
      subject: `/CN=${applicationName}/O=edge-agent`,
      startDate: new Date(),
      validity: 365 * 5,
      outputFile: certificateFile,
    });
  }
  const pki: ClientPki = {
    manager,
    reload: async () => {
      const previous = pki.manager;
      pki.manager = await open();
      await previous.dispose().catch(() => undefined);
    },
    certificateFile,
    privateKeyFile: manager.privateKey,
    applicationUri,
    rejectedDir: manager.rejectedFolder,
    trustedDir: join(dir, 'trusted', 'certs'),
  };
  return pki;
}

/** A certificate file as an operator identifies it: file name, SHA-1 thumbprint, subject. */
export interface CertificateEntry {
  file: string;
  thumbprint: string;
  subject: string;
  applicationUri: string | undefined;
}

function describe(file: string): CertificateEntry {
  const raw = readFileSync(file);
  const pem = raw.toString('utf8');
  const der = pem.includes('-----BEGIN') ? new X509Certificate(pem).raw : raw;
  const x = new X509Certificate(der);
  const uri = /URI:([^,\s]+)/.exec(x.subjectAltName ?? '')?.[1];
  return { file, thumbprint: createHash('sha1').update(der).digest('hex'), subject: x.subject.replace(/\n/g, ', '), applicationUri: uri };
}

/** Certificates in `rejected/` (servers the agent refused) or `trusted/certs`. */
export function listCertificates(folder: string): CertificateEntry[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((f) => /\.(pem|der)$/i.test(f))
    .sort()
    .map((f) => describe(join(folder, f)));
}

/**
 * Moves a rejected server certificate to `trusted/certs`: `which` is its file name, or
 * the start of its thumbprint (at least 8 hex digits). Throws naming what was there.
 */
export function trustRejected(pkiDir: string, which: string): CertificateEntry {
  const rejected = join(pkiDir, 'rejected');
  const all = listCertificates(rejected);
  const w = which.toLowerCase();
  const hits = all.filter((c) => basename(c.file) === which || (w.length >= 8 && c.thumbprint.startsWith(w)));
  if (hits.length !== 1) {
    const known = all.map((c) => `${basename(c.file)} (${c.thumbprint.slice(0, 16)})`).join(', ') || 'none';
    throw new AgentError('E_OPCUA_TRUST', `${hits.length === 0 ? 'no' : 'more than one'} rejected certificate matches "${which}"; rejected: ${known}`);
  }
  const hit = hits[0]!;
  const trusted = join(pkiDir, 'trusted', 'certs');
  mkdirSync(trusted, { recursive: true });
  const target = join(trusted, basename(hit.file));
  renameSync(hit.file, target);
  return { ...hit, file: target };
}
