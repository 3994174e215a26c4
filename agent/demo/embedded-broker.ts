// Before mqtt-packet loads, so that it keeps packet lengths in a block of their own (see the module).
import '../../protocol/mqtt-length-cache.js';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

/** An in-process MQTT 3.1.1 broker (aedes) for the zero-setup demo and for machines without Mosquitto. */
export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts the broker on 127.0.0.1; port 0 picks a free one. */
export async function startEmbeddedBroker(port = 0): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
