/**
 * `syncer watch` as a long-running child process: stdout lines parsed as NDJSON events, stderr
 * collected, waits that fail with everything collected (never hang), and a stop that returns the
 * exit code. Every watcher started here is remembered: call `killWatchers()` in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, baseEnv, type Operator } from './world.js';

/** One NDJSON event of `syncer watch` (the product's own type). */
export type { WatchEvent } from '../../src/commands/watch/actions.js';
import type { WatchEvent } from '../../src/commands/watch/actions.js';

export interface WatcherOptions {
  /** Extra environment (on top of the operator's). */
  env?: Record<string, string | undefined>;
  /** A name used in failure messages. */
  name?: string;
  cwd?: string;
}

const live = new Set<WatcherProcess>();

export class WatcherProcess {
  readonly child: ChildProcess;
  readonly name: string;
  readonly events: WatchEvent[] = [];
  /** stdout lines that are not JSON objects (there must be none). */
  readonly garbage: string[] = [];
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<number>;
  private partial = '';
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly args: string[],
    env: NodeJS.ProcessEnv,
    options: WatcherOptions = {},
  ) {
    this.name = options.name ?? 'watcher';
    this.child = spawn(process.execPath, [BIN, 'watch', ...args], { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    this.child.stdout!.setEncoding('utf8');
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      this.stdout += d;
      this.partial += d;
      const lines = this.partial.split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) {
        if (line.trim() === '') continue;
        try {
          const parsed = JSON.parse(line);
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) this.events.push(parsed as WatchEvent);
          else this.garbage.push(line);
        } catch {
          this.garbage.push(line);
        }
      }
      this.notify();
    });
    this.child.stderr!.on('data', (d: string) => {
      this.stderr += d;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        live.delete(this);
        this.exitCode = code;
        this.exitSignal = signal;
        this.notify();
        resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 0));
      });
    });
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Everything collected so far, for failure messages. */
  describe(): string {
    const status = this.running ? 'running' : `exited (code ${this.exitCode}, signal ${this.exitSignal})`;
    return `[${this.name}: syncer watch ${this.args.join(' ')}; ${status}]\n--- events (${this.events.length}) ---\n${this.events
      .map((e) => JSON.stringify(e))
      .join('\n')}\n--- other stdout ---\n${this.garbage.join('\n')}${this.partial}\n--- stderr ---\n${this.stderr}`;
  }

  /** Resolve when `done()` holds; fail with the collected output on timeout or if the watcher exits first. */
  waitUntil(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const holds = () => {
        try {
          return done();
        } catch {
          return false;
        }
      };
      const check = () => {
        if (holds()) {
          finish();
          resolve();
        } else if (!this.running) {
          finish();
          reject(new Error(`${this.name} exited while waiting for ${what}\n${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`));
      }, timeoutMs);
      // Output wakes the check at once; conditions outside the process (files, etcd) are polled.
      const poll = setInterval(check, 100);
      const finish = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Wait until at least `n` events were printed; returns the first `n`. */
  async waitForEvents(n: number, timeoutMs = 20_000): Promise<WatchEvent[]> {
    await this.waitUntil(`${n} event(s)`, () => this.events.length >= n, timeoutMs);
    return this.events.slice(0, n);
  }

  /** Wait for an event matching `pred` (a description for the failure message). */
  async waitForEvent(what: string, pred: (e: WatchEvent) => boolean, timeoutMs = 20_000): Promise<WatchEvent> {
    await this.waitUntil(`an event: ${what}`, () => this.events.some(pred), timeoutMs);
    return this.events.find(pred)!;
  }

  /** Wait for stderr to match `re`; returns the match. */
  async waitForStderr(re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    await this.waitUntil(`stderr matching ${re}`, () => re.test(this.stderr), timeoutMs);
    return this.stderr.match(re)!;
  }

  /** Send `signal` and wait for the exit code (SIGKILL after `timeoutMs`, and then fail). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number> {
    if (!this.running) return this.exited;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`${this.name} did not exit within ${timeoutMs} ms of ${signal}\n${this.describe()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL, no clean-up (a crash). */
  async kill(): Promise<number> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** Start `syncer watch ARGS` as operator `op` (its HOME, etcd hosts and namespace). */
export function startWatcher(op: Pick<Operator, 'env' | 'name'>, args: string[], options: WatcherOptions = {}): WatcherProcess {
  return new WatcherProcess(args, baseEnv({ ...op.env, ...options.env }), { ...options, name: options.name ?? `watcher of ${op.name}` });
}

/** SIGKILL every watcher still running (for afterAll). */
export async function killWatchers(): Promise<void> {
  await Promise.all([...live].map((w) => w.kill()));
}

// A worker that dies without afterAll must not leave watchers behind.
process.once('exit', () => {
  for (const w of live) w.child.kill('SIGKILL');
});
