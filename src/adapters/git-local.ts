/**
 * One local git process (reads and writes of a repository, no remote) through node:child_process.
 * Not execa: importing it cost ~240 ms, more than a small retrieve spends inside git. A deadline
 * (local work ends, but a wedged file system or lock must not hang syncer), cancellable.
 */
import { spawn } from 'node:child_process';

export interface LocalGitOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  input?: string;
}

export interface LocalGitResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
}

/** Time git gets to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

export function runLocalGit(args: string[], options: LocalGitOptions): Promise<LocalGitResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return resolve({ exitCode: null, stdout: '', stderr: '', timedOut: false, aborted: true });
    const child = spawn('git', args, { cwd: options.cwd, env: options.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = () => {
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      kill();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // git may exit before reading all of its input
      child.stdin.end(options.input);
    }
    const done = (code: number | null) =>
      settle(() => resolve({ exitCode: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut, aborted }));
    child.on('error', (e) => settle(() => reject(e)));
    // Killed: do not wait for the pipes, which something git started (a hook, a filter) may still hold.
    child.on('exit', (code) => {
      if (!timedOut && !aborted) return;
      child.stdout!.destroy();
      child.stderr!.destroy();
      done(code);
    });
    child.on('close', done);
  });
}
