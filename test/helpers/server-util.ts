/**
 * Shared plumbing for the real servers the hosting tests start (sshd, lighttpd + git http-backend,
 * git daemon): find a binary or fail with a clear message (never skip), wait until a loopback port
 * accepts connections, stop a process (TERM, then KILL) and never leave one behind when the test
 * process exits.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';

export { freePort } from './etcd.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The absolute path of a program: `name` on PATH (plus /usr/sbin and /sbin, where Debian puts
 * daemons) or one of `candidates`. Throws naming the Debian package when it is nowhere.
 */
export function requireBinary(name: string, debianPackage: string, candidates: string[] = []): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'].filter(Boolean);
  for (const path of [...candidates, ...dirs.map((d) => join(d, name))]) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      /* next */
    }
  }
  throw new Error(`${name} is not installed: the hosting tests start a real ${name} on loopback (Debian: apt-get install -y ${debianPackage})`);
}

/** Resolve once 127.0.0.1:port accepts a TCP connection; reject if `proc` exits first or time runs out. */
export async function waitForPort(port: number, proc: ChildProcess, what: string, logs: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}) before listening on 127.0.0.1:${port}:\n${logs()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${logs()}`);
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** spawn, remembering the child so that it is killed if the test process exits without close(). */
export function spawnServer(command: string, args: string[], options: SpawnOptions = {}): { proc: ChildProcess; logs: () => string } {
  if (!existsSync(command) && command.includes('/')) throw new Error(`${command} does not exist`);
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 20_000) out = out.slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  proc.on('error', (e) => keep(Buffer.from(`spawn error: ${e.message}\n`)));
  live.add(proc);
  proc.on('exit', () => live.delete(proc));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of live) p.kill('SIGKILL');
    });
  }
  return { proc, logs: () => out };
}

/** TERM, then KILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(proc: ChildProcess | undefined, graceMs = 2000): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** The user the servers log in as / run as (root in CI), as `whoami` says. */
export function currentUser(): string {
  return userInfo().username;
}
