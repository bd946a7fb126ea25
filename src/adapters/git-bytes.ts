/**
 * git with binary, bounded output, beside the git runner (git.ts, git-process.ts) whose output is
 * text: `cat-file --batch` (every tag object in one process), a blob with a size cap (reindex),
 * and a blob written straight to a file (source push).
 * Same rules as the adapter: no shell, the adapter's environment (no prompts), a stall deadline,
 * cancellable, failures are exit 4 with git's own `fatal:` line.
 */
import { spawn } from 'node:child_process';
import { SyncerError, interrupted } from '../errors.js';
import { gitEnv, gitFailure } from './git.js';

export interface GitBytesOptions {
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Kill git when it prints nothing for this long. */
  stallMs: number;
  input?: string;
  /** Stop reading (and kill git) past this many bytes of output: `truncated` is then true. */
  maxBytes?: number;
  what: string;
}

export function gitBytes(dir: string, args: string[], options: GitBytesOptions): Promise<{ out: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(interrupted());
    const child = spawn('git', args, { cwd: dir, env: gitEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let truncated = false;
    let stalled = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        child.kill('SIGKILL');
      }, options.stallMs);
    };
    const onAbort = () => child.kill('SIGTERM');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    arm();
    child.stdout.on('data', (d: Buffer) => {
      arm();
      if (truncated) return;
      chunks.push(d);
      size += d.length;
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        truncated = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      arm();
      if (stderr.length < 64 * 1024) stderr += d.toString();
    });
    child.stdin.on('error', () => undefined); // git may exit before reading all of stdin
    child.stdin.end(options.input ?? '');
    child.on('error', (e) =>
      finish(() =>
        reject(
          (e as NodeJS.ErrnoException).code === 'ENOENT'
            ? new SyncerError('REMOTE', 'git is not installed (or not on PATH)', { hint: 'install git: apt-get install -y git', cause: e })
            : new SyncerError('REMOTE', `${options.what} failed: ${e.message}`, { cause: e }),
        ),
      ),
    );
    child.on('close', (code) =>
      finish(() => {
        if (options.signal?.aborted) return reject(interrupted());
        if (truncated) return resolve({ out: Buffer.concat(chunks), truncated: true });
        if (stalled) return reject(new SyncerError('REMOTE', `${options.what} made no progress for ${Math.round(options.stallMs / 1000)} s and was stopped`));
        if (code !== 0) return reject(new SyncerError('REMOTE', `${options.what} failed: ${gitFailure(stderr || `exit code ${code}`)}`));
        resolve({ out: Buffer.concat(chunks), truncated: false });
      }),
    );
  });
}

/** `git <args>` with its stdout written to the open file `fd` (a blob of any size, never in memory). Whether git succeeded. */
export function gitToFile(dir: string, args: string[], fd: number, env: NodeJS.ProcessEnv): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const child = spawn('git', args, { cwd: dir, env: gitEnv(env), stdio: ['ignore', fd, 'ignore'] });
    child.on('error', reject);
    child.on('close', (c) => resolve(c === 0));
  });
}
