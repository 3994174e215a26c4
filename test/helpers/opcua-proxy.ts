import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP relay between the agent and an OPC-UA server, so a test can break the network
 * without touching either process. `cut()` closes every connection (the peer sees it at
 * once); `freeze()` is a pulled cable: connections stay open but nothing gets through and
 * new ones are refused. `restore()` ends either.
 */
export class TcpCut {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private state: 'open' | 'cut' | 'frozen' = 'open';
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.state !== 'open') return client.destroy();
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.on('data', (d) => this.state === 'open' && upstream.write(d));
      upstream.on('data', (d) => this.state === 'open' && client.write(d));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  get endpoint(): string {
    return `opc.tcp://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.state = 'cut';
    for (const s of this.sockets) s.destroy();
  }

  freeze(): void {
    this.state = 'frozen';
  }

  /** Lets traffic through again; connections that lived through a freeze are closed, as a router's NAT would have forgotten them. */
  restore(): void {
    if (this.state === 'frozen') for (const s of this.sockets) s.destroy();
    this.state = 'open';
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
