/**
 * Small helpers for the failure-path tests: what the repository, its remote and the registry look
 * like, git hooks in a bare remote, and a TCP server that accepts connections and never answers.
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import { git, type Operator, type RunResult, type World } from './world.js';

/** Assert the exit code, showing the output when it is not the expected one. */
export function exitFailed(r: RunResult, code: number): void {
  expect(r.code, `exit code (stdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)})`).toBe(code);
}

/** Every ref of a (bare) repository: name -> object id it points to (peeled for tags). */
export function remoteRefs(dir: string): Record<string, string> {
  const out = git(dir, 'for-each-ref', '--format=%(refname) %(*objectname) %(objectname)');
  const refs: Record<string, string> = {};
  for (const line of out.split('\n').filter(Boolean)) {
    const [name, peeled, id] = line.split(' ');
    refs[name!] = peeled || id!;
  }
  return refs;
}

export function tagsOf(dir: string): string[] {
  return git(dir, 'tag', '--list').split('\n').filter(Boolean);
}

export interface RepoSnapshot {
  head: string;
  commits: number;
  status: string;
  tags: string[];
  remoteRefs: Record<string, string>;
}

export function snapshot(op: Operator): RepoSnapshot {
  return {
    head: git(op.repo, 'rev-parse', 'HEAD'),
    commits: Number(git(op.repo, 'rev-list', '--count', 'HEAD')),
    status: git(op.repo, 'status', '--porcelain=v1', '--untracked-files=all'),
    tags: tagsOf(op.repo),
    remoteRefs: remoteRefs(op.remoteDir),
  };
}

/** The advertisements (datasets/ keys) of one operator in a world's namespace. */
export function adsOf(w: World, op: Operator): Record<string, string> {
  return Object.fromEntries(Object.entries(w.etcdGet('datasets/')).filter(([k]) => k.endsWith(`/${op.name}`)));
}

export function installHook(remoteDir: string, name: string, script: string): void {
  const path = join(remoteDir, 'hooks', name);
  writeFileSync(path, script);
  chmodSync(path, 0o755);
}

export function removeHook(remoteDir: string, name: string): void {
  rmSync(join(remoteDir, 'hooks', name), { force: true });
}

/** A TCP server on 127.0.0.1 that accepts every connection and never writes a byte. */
export function stallServer(): { listen(): Promise<number>; connections(): number; close(): Promise<void> } {
  const sockets = new Set<Socket>();
  let count = 0;
  const server = createServer((sock) => {
    count++;
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
    sock.resume(); // read and drop whatever the client sends
  });
  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
      }),
    connections: () => count,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}
