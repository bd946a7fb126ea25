/**
 * Real etcd servers for tests: free loopback ports, a temporary data dir, stopped afterwards.
 * `startCluster(3)` gives a 3-member cluster whose members can be stopped, frozen and restarted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc?: ChildProcess;
}

export interface Cluster {
  endpoints: string[];
  members: Member[];
  /** Hosts as SYNCER_ETCD_HOSTS wants them. */
  hosts: string;
  stop(i: number): Promise<void>;
  freeze(i: number): void;
  thaw(i: number): void;
  start(i: number): Promise<void>;
  close(): Promise<void>;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

export async function startCluster(size = 1): Promise<Cluster> {
  const root = mkdtempSync(join(tmpdir(), 'syncer-etcd-'));
  const token = `t${Date.now()}${Math.random().toString(16).slice(2, 6)}`;
  const members: Member[] = [];
  for (let i = 0; i < size; i++) {
    members.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(root, `m${i}`),
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  let firstStart = true;
  const launch = (m: Member) => {
    m.proc = spawn(
      process.env.SYNCER_ETCD_BIN || 'etcd',
      [
        '--name',
        m.name,
        '--data-dir',
        m.dataDir,
        '--listen-client-urls',
        m.clientUrl,
        '--advertise-client-urls',
        m.clientUrl,
        '--listen-peer-urls',
        m.peerUrl,
        '--initial-advertise-peer-urls',
        m.peerUrl,
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-token',
        token,
        '--initial-cluster-state',
        firstStart ? 'new' : 'existing',
        '--heartbeat-interval',
        '50',
        '--election-timeout',
        '500',
        '--log-level',
        'error',
      ],
      { stdio: 'ignore' },
    );
  };
  const waitHealthy = async (urls: string[]) => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if ((await Promise.all(urls.map(healthy))).every(Boolean)) return;
      await sleep(100);
    }
    throw new Error(`etcd did not become healthy: ${urls.join(', ')}`);
  };
  members.forEach(launch);
  firstStart = false;
  await waitHealthy(members.map((m) => m.clientUrl));
  const endpoints = members.map((m) => m.clientUrl);
  const stopMember = async (m: Member) => {
    const p = m.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGCONT');
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (p.exitCode === null) p.kill('SIGKILL');
  };
  return {
    endpoints,
    members,
    hosts: endpoints.join(','),
    stop: (i) => stopMember(members[i]!),
    freeze: (i) => void members[i]!.proc?.kill('SIGSTOP'),
    thaw: (i) => void members[i]!.proc?.kill('SIGCONT'),
    start: async (i) => {
      launch(members[i]!);
      await waitHealthy([members[i]!.clientUrl]);
    },
    close: async () => {
      await Promise.all(members.map(stopMember));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
