/**
 * A TCP proxy on 127.0.0.1 at a free port in front of another loopback server, for slow links:
 * - 'throttle': at most `bytesPerSecond` in each direction (a token bucket, small slices, and as
 *   little buffering in the proxy itself as Node allows, so the sender feels the limit);
 * - 'dead': accepts connections and never forwards a byte (nor closes them): a remote that hangs;
 * - 'pass': forwards at full speed.
 * Counts the bytes forwarded each way, so a test can show the transfer really went through it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { sleep } from './server-util.js';

export type ProxyMode = 'throttle' | 'dead' | 'pass';

export interface ThrottleProxy {
  port: number;
  /** 127.0.0.1:PORT */
  address: string;
  mode: ProxyMode;
  bytesPerSecond: number;
  /** Bytes forwarded client -> server and server -> client since start. */
  stats: { up: number; down: number; connections: number };
  close(): Promise<void>;
}

class Throttle extends Transform {
  private next = 0;
  private closed = false;
  constructor(
    private readonly rate: () => number,
    private readonly count: (n: number) => void,
  ) {
    // Small buffers: what the proxy holds is data the sender believes is sent.
    super({ highWaterMark: 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    void (async () => {
      const slice = Math.max(512, Math.floor(this.rate() / 20));
      for (let i = 0; i < chunk.length && !this.closed; i += slice) {
        const part = chunk.subarray(i, i + slice);
        const wait = this.next - Date.now();
        if (wait > 0) await sleep(wait);
        this.next = Math.max(this.next, Date.now()) + (part.length / this.rate()) * 1000;
        this.count(part.length);
        this.push(part);
      }
      callback();
    })();
  }

  override _destroy(err: Error | null, callback: (error: Error | null) => void): void {
    this.closed = true;
    callback(err);
  }
}

export async function startThrottleProxy(options: {
  targetPort: number;
  targetHost?: string;
  bytesPerSecond?: number;
  mode?: ProxyMode;
}): Promise<ThrottleProxy> {
  const sockets = new Set<Socket>();
  const proxy: ThrottleProxy = {
    port: 0,
    address: '',
    mode: options.mode ?? 'throttle',
    bytesPerSecond: options.bytesPerSecond ?? 64 * 1024,
    stats: { up: 0, down: 0, connections: 0 },
    close: async () => {},
  };
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    proxy.stats.connections++;
    if (proxy.mode === 'dead') {
      client.pause(); // read nothing, send nothing, keep it open
      return;
    }
    const upstream = connect({ host: options.targetHost ?? '127.0.0.1', port: options.targetPort });
    track(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    const rate = () => proxy.bytesPerSecond;
    if (proxy.mode === 'pass') {
      client.on('data', (d: Buffer) => (proxy.stats.up += d.length));
      upstream.on('data', (d: Buffer) => (proxy.stats.down += d.length));
      client.pipe(upstream);
      upstream.pipe(client);
      return;
    }
    const up = new Throttle(rate, (n) => (proxy.stats.up += n));
    const down = new Throttle(rate, (n) => (proxy.stats.down += n));
    up.on('error', end);
    down.on('error', end);
    client.on('close', () => up.destroy());
    upstream.on('close', () => down.destroy());
    client.pipe(up).pipe(upstream);
    upstream.pipe(down).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.port = (server.address() as { port: number }).port;
  proxy.address = `127.0.0.1:${proxy.port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
