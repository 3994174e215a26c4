import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of a certificate and its key. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: string;
  broker: CertFiles;
  /** A client certificate with `cn` as its subject, signed by the fleet CA (or by a stranger CA). */
  client(cn: string, opts?: { rogue?: boolean }): CertFiles;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, a broker certificate for localhost / 127.0.0.1, and client certificates on demand, made with openssl. */
export function makePki(dir: string): TestPki {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-fleet-ca', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=rogue-ca', '-keyout', 'rogue.key', '-out', 'rogue.crt'], dir);
  const sign = (name: string, cn: string, ca: string, ext?: string) => {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
    const args = ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`];
    if (ext) {
      writeFileSync(join(dir, `${name}.ext`), ext);
      args.push('-extfile', `${name}.ext`);
    }
    openssl(args, dir);
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  };
  const broker = sign('broker', 'localhost', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    broker,
    client: (cn, opts = {}) => sign(`${opts.rogue ? 'rogue-' : ''}client-${cn}`, cn, opts.rogue ? 'rogue' : 'ca'),
  };
}
