import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserTokenType, type UserIdentityInfo } from 'node-opcua';
import type { z } from 'zod';
import type { IdentitySchema } from '../../config/sensor-schema.js';
import { AgentError, errorMessage } from '../../errors.js';

/** The session's user: anonymous, a user name and password, or an X.509 user certificate. */
export function userIdentity(identity: z.infer<typeof IdentitySchema>, baseDir: string): UserIdentityInfo {
  switch (identity.type) {
    case 'anonymous':
      return { type: UserTokenType.Anonymous };
    case 'username':
      return { type: UserTokenType.UserName, userName: identity.username, password: identity.password };
    case 'certificate': {
      const cert = resolve(baseDir, identity.cert);
      const key = resolve(baseDir, identity.key);
      try {
        return { type: UserTokenType.Certificate, certificateData: new X509Certificate(readFileSync(cert)).raw, privateKey: readFileSync(key, 'utf8') };
      } catch (err) {
        throw new AgentError('E_OPCUA_IDENTITY', `user certificate ${cert} or key ${key} could not be read: ${errorMessage(err)}`, { cause: err });
      }
    }
  }
}
