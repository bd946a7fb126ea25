/**
 * The embedded local etcd: one etcd process per user, data and port in the per-user data dir,
 * started on demand when `etcd.hosts` is unset. Before use we check the process on the port is our
 * own member (its name carries a token only our state file knows), never someone else's etcd.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { SyncerError } from '../errors.js';
import { makeDirs } from './dirs.js';

export interface EmbeddedState {
  name: string;
  clientPort: number;
  peerPort: number;
  pid?: number;
}

export interface EmbeddedStatus {
  running: boolean;
  endpoint?: string;
  pid?: number;
  dataDir: string;
  logFile: string;
}

const HEALTH_WAIT_MS = 15_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class EmbeddedEtcd {
  readonly root: string;
  private readonly stateFile: string;
  readonly dataDir: string;
  readonly logFile: string;

  constructor(
    dataRoot: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.root = join(dataRoot, 'etcd');
    this.stateFile = join(this.root, 'state.json');
    this.dataDir = join(this.root, 'data');
    this.logFile = join(this.root, 'etcd.log');
  }

  private readState(): EmbeddedState | undefined {
    try {
      return JSON.parse(readFileSync(this.stateFile, 'utf8')) as EmbeddedState;
    } catch {
      return undefined;
    }
  }

  private writeState(state: EmbeddedState): void {
    writeFileSync(this.stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  }

  private endpoint(state: EmbeddedState): string {
    return `http://127.0.0.1:${state.clientPort}`;
  }

  /** Is the etcd answering on our port our own member? */
  private async isOurs(state: EmbeddedState): Promise<boolean> {
    try {
      const res = await fetch(`${this.endpoint(state)}/v3/cluster/member/list`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) return false;
      const body = (await res.json()) as { members?: { name?: string }[] };
      return (body.members ?? []).some((m) => m.name === state.name);
    } catch {
      return false;
    }
  }

  private async healthy(state: EmbeddedState): Promise<boolean> {
    try {
      const res = await fetch(`${this.endpoint(state)}/health`, { signal: AbortSignal.timeout(1000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  }

  async status(): Promise<EmbeddedStatus> {
    const state = this.readState();
    const running = !!state && alive(state.pid) && (await this.isOurs(state));
    return {
      running,
      endpoint: state && running ? this.endpoint(state) : undefined,
      pid: running ? state?.pid : undefined,
      dataDir: this.dataDir,
      logFile: this.logFile,
    };
  }

  /** The endpoint of our running member, starting it if needed. */
  async ensure(): Promise<{ endpoint: string; started: boolean }> {
    makeDirs(this.root, 0o700);
    const state = this.readState();
    if (state && alive(state.pid) && (await this.isOurs(state))) return { endpoint: this.endpoint(state), started: false };
    return this.withStartLock(async () => {
      const again = this.readState();
      if (again && alive(again.pid) && (await this.isOurs(again))) return { endpoint: this.endpoint(again), started: false };
      const started = await this.start(again);
      return { endpoint: this.endpoint(started), started: true };
    });
  }

  private async withStartLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = join(this.root, 'start.lock');
    const deadline = Date.now() + HEALTH_WAIT_MS + 5000;
    for (;;) {
      try {
        closeSync(openSync(lock, 'wx'));
        break;
      } catch {
        try {
          if (Date.now() - statSync(lock).mtimeMs > HEALTH_WAIT_MS + 5000) rmSync(lock, { force: true });
        } catch {
          /* raced with its removal */
        }
        if (Date.now() > deadline) throw new SyncerError('REGISTRY', `another syncer is starting the embedded etcd (lock ${lock})`);
        await sleep(100);
      }
    }
    try {
      return await fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  private async start(previous: EmbeddedState | undefined): Promise<EmbeddedState> {
    const bin = this.env.SYNCER_ETCD_BIN || 'etcd';
    const state: EmbeddedState = {
      name: previous?.name ?? `syncer-${randomBytes(6).toString('hex')}`,
      clientPort: previous?.clientPort ?? (await freePort()),
      peerPort: previous?.peerPort ?? (await freePort()),
    };
    // A port taken by something else since last time: pick new ones (the member keeps its data).
    if (previous && !(await this.portFree(state.clientPort))) state.clientPort = await freePort();
    if (previous && !(await this.portFree(state.peerPort))) state.peerPort = await freePort();
    const client = `http://127.0.0.1:${state.clientPort}`;
    const peer = `http://127.0.0.1:${state.peerPort}`;
    const log = openSync(this.logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(
        bin,
        [
          '--name',
          state.name,
          '--data-dir',
          this.dataDir,
          '--listen-client-urls',
          client,
          '--advertise-client-urls',
          client,
          '--listen-peer-urls',
          peer,
          '--initial-advertise-peer-urls',
          peer,
          '--initial-cluster',
          `${state.name}=${peer}`,
          '--initial-cluster-token',
          state.name,
          '--initial-cluster-state',
          existsSync(join(this.dataDir, 'member')) ? 'existing' : 'new',
        ],
        { detached: true, stdio: ['ignore', log, log], env: { PATH: this.env.PATH ?? '/usr/bin:/bin', ETCD_UNSUPPORTED_ARCH: this.env.ETCD_UNSUPPORTED_ARCH } },
      );
    } finally {
      closeSync(log);
    }
    let spawnError: Error | undefined;
    child.on('error', (e: NodeJS.ErrnoException) => (spawnError = e));
    child.unref();
    await sleep(50);
    if (spawnError || !child.pid) {
      const missing = (spawnError as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' || !child.pid;
      throw new SyncerError(
        'REGISTRY',
        missing ? `cannot start the embedded etcd: "${bin}" not found` : `cannot start the embedded etcd: ${spawnError?.message}`,
        {
          hint: 'install it (Debian/Ubuntu: apt-get install -y etcd-server), set SYNCER_ETCD_BIN, or configure etcd.hosts',
        },
      );
    }
    state.pid = child.pid;
    this.writeState(state);
    const deadline = Date.now() + HEALTH_WAIT_MS;
    while (Date.now() < deadline) {
      if (!alive(state.pid)) break;
      if ((await this.healthy(state)) && (await this.isOurs(state))) return state;
      await sleep(100);
    }
    const exited = !alive(state.pid);
    try {
      process.kill(state.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    throw new SyncerError(
      'REGISTRY',
      exited ? `the embedded etcd (${bin}) exited at once` : `the embedded etcd did not become healthy within ${HEALTH_WAIT_MS / 1000} s`,
      {
        hint: `see ${this.logFile}`,
      },
    );
  }

  private async portFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  }

  /** Stop our member (only ours: the pid must still answer as our member or run on our data dir). */
  async stop(): Promise<boolean> {
    const state = this.readState();
    if (!state?.pid || !alive(state.pid)) return false;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${state.pid}/cmdline`, 'utf8');
    } catch {
      /* not Linux: rely on the member check */
    }
    if (!cmdline.includes(this.dataDir) && !(await this.isOurs(state))) return false;
    process.kill(state.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (alive(state.pid) && Date.now() < deadline) await sleep(100);
    if (alive(state.pid)) process.kill(state.pid, 'SIGKILL');
    this.writeState({ ...state, pid: undefined });
    return true;
  }
}
