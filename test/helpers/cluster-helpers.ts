/**
 * Helpers for the 3-member cluster tests: which member leads, reads that only ask live members
 * (etcdctl with a stopped or frozen endpoint in its list can stall), and waiting for the whole
 * cluster to be healthy again after a member comes back.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Cluster } from './etcd.js';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function etcdctl(endpoints: string[], args: string[], timeoutMs = 10_000): Promise<string> {
  const { stdout } = await execFileP('etcdctl', ['--endpoints', endpoints.join(','), '--dial-timeout=2s', '--command-timeout=5s', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: timeoutMs,
  });
  return stdout;
}

/**
 * The index of the member that leads, asking only the given live members. Member ids are 64-bit:
 * read them as strings (JSON.parse would round them).
 */
export async function leaderIndex(cluster: Cluster, live: number[] = cluster.members.map((_, i) => i)): Promise<number> {
  const deadline = Date.now() + 15_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const out = await etcdctl(
        live.map((i) => cluster.endpoints[i]!),
        ['endpoint', 'status', '-w', 'json'],
      );
      const rows = [...out.matchAll(/"Endpoint":"([^"]+)","Status":\{"header":\{[^}]*"member_id":(\d+)[^}]*\}[^}]*?"leader":(\d+)/g)];
      const leaders = new Set(rows.map((r) => r[3]));
      if (rows.length === live.length && leaders.size === 1) {
        const leader = rows.find((r) => r[2] === rows[0]![3]);
        if (leader) return cluster.endpoints.indexOf(leader[1]!);
      }
      last = out;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`no single leader among members ${live.join(',')}: ${last}`);
}

/** Keys and values under a prefix, read through the given live members only. */
export async function readPrefix(cluster: Cluster, live: number[], prefix: string): Promise<Record<string, string>> {
  const out = await etcdctl(
    live.map((i) => cluster.endpoints[i]!),
    ['get', '--prefix', prefix],
  );
  const lines = out.split('\n');
  const map: Record<string, string> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) map[lines[i]!] = lines[i + 1]!;
  return map;
}

/** Every member answers /health (which needs a leader) and agrees on one leader. */
export async function waitAllHealthy(cluster: Cluster): Promise<void> {
  const deadline = Date.now() + 20_000;
  const healthy = async (url: string) => {
    try {
      return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false;
    }
  };
  while (Date.now() < deadline) {
    if ((await Promise.all(cluster.endpoints.map(healthy))).every(Boolean)) {
      await leaderIndex(cluster);
      return;
    }
    await sleep(150);
  }
  throw new Error('cluster did not become healthy again');
}

/** Is the member's process still running (not killed by a test hook)? */
export function alive(cluster: Cluster, i: number): boolean {
  const p = cluster.members[i]!.proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return false;
  try {
    process.kill(p.pid!, 0);
    return true;
  } catch {
    return false;
  }
}

/** kill -9 a member (an abrupt stop: no graceful leadership transfer) and wait until it is gone. */
export async function kill9(cluster: Cluster, i: number): Promise<void> {
  const p = cluster.members[i]!.proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await Promise.race([exited, sleep(5000)]);
}
