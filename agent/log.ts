import { pino, type Logger } from 'pino';

/** The root logger: JSON lines to stdout, credentials redacted wherever they appear. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['password', '*.password', '*.*.password', 'token', '*.token', 'config.broker.password'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export type { Logger };
