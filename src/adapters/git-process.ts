/**
 * One git process with a stall deadline that means "no bytes moving": every chunk git writes
 * (its progress meter included) and every change in the bytes its process tree reads, writes or
 * has queued on its sockets (transfer-activity.ts) counts as movement, so a slow transfer that
 * still moves survives and a remote that sends nothing is cut off. git's progress lines are
 * parsed into events for the caller (shown only on a TTY) and kept out of the stderr text used
 * for errors and warnings.
 *
 * Movement is not enough before the pack begins: a hostile remote can stream an endless list of
 * refs (git keeps them all in memory) or endless messages, and bytes move forever. So the
 * handshake of a fetch, ls-remote, push or clone (everything until git's own meter for the pack,
 * "Receiving objects" or a push's "Enumerating objects", printed while git's pack process runs)
 * is capped in bytes the process tree took in (bytesTakenIn) and in time (`handshake`). An honest
 * remote's handshake is small and short (syncer asks for single refs); the pack itself, however
 * long it takes, is never capped.
 */
import { spawn } from 'node:child_process';
import { activitySignature, bytesTakenIn, treeRuns, type TreeIo } from './transfer-activity.js';

/** What the handshake (everything before the pack) may read, and how long it may last. */
export interface HandshakeLimits {
  maxBytes: number;
  maxMs: number;
}

/**
 * Verbs that talk to a remote from their start (the handshake limits apply to them), and the git
 * processes that receive or send their pack: the handshake is over when git shows its own meter
 * while one of these runs (a meter alone could be forged: ssh prints the server's banner).
 */
const PACK_PROCESSES: Record<string, readonly string[]> = {
  fetch: ['index-pack', 'unpack-objects'],
  clone: ['index-pack', 'unpack-objects'],
  push: ['pack-objects'],
  'ls-remote': [],
};

export interface GitProgressEvent {
  method: string;
  /** "receiving", "resolving", "counting", "compressing", "writing", "updating"... */
  stage: string;
  progress: number;
  processed: number;
  total: number;
}

export interface GitProcessOptions {
  cwd: string;
  env: Record<string, string>;
  /** Kill git after this long without a byte of output. */
  stallMs: number;
  signal?: AbortSignal;
  input?: string;
  onProgress?: (event: GitProgressEvent) => void;
  /** Caps on the handshake of a fetch, ls-remote, push or clone (none: not capped). */
  handshake?: HandshakeLimits;
}

export interface GitProcessResult {
  exitCode: number | null;
  stdout: string;
  /** stderr without the progress meter's lines (git's messages, warnings and errors). */
  stderr: string;
  stalled: boolean;
  aborted: boolean;
  /** Stopped before the pack began: it read more than `handshake.maxBytes`, or lasted over `maxMs`. */
  handshake?: 'bytes' | 'time';
}

// "Receiving objects:  45% (2/6), 1.20 MiB | 64.00 KiB/s" or "remote: Counting objects: 100% (13/13), done."
const PROGRESS = /^(?:remote:\s*)?([A-Za-z][A-Za-z ]*?):\s+(\d+)% \((\d+)\/(\d+)\)/;
// Counters without a total: "remote: Enumerating objects: 13, done."
const COUNTER = /^(?:remote:\s*)?[A-Za-z][A-Za-z ]*?:\s+\d+(, done\.)?\s*$/;

export function parseProgress(line: string, method: string): GitProgressEvent | undefined {
  const m = PROGRESS.exec(line.trim());
  if (!m) return undefined;
  return { method, stage: m[1]!.split(' ')[0]!.toLowerCase(), progress: Number(m[2]), processed: Number(m[3]), total: Number(m[4]) };
}

export function isProgressLine(line: string): boolean {
  const t = line.trim();
  return PROGRESS.test(t) || COUNTER.test(t);
}

const MAX_STDERR = 256 * 1024;
/** Time git gets to exit after SIGTERM (it then kills its ssh or http helper itself) before SIGKILL. */
const KILL_GRACE_MS = 2000;

export function runGitProcess(args: string[], options: GitProcessOptions): Promise<GitProcessResult> {
  return new Promise((resolve, reject) => {
    const method = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '-c') ?? 'git';
    const child = spawn('git', args, { cwd: options.cwd, env: options.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    let pending = ''; // a stderr line not yet ended by \n or \r
    let stalled = false;
    let aborted = false;
    let timer: NodeJS.Timeout | undefined;
    let lastMove = Date.now();
    let lastSignature: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const started = Date.now();
    const packProcesses = Object.hasOwn(PACK_PROCESSES, method) ? PACK_PROCESSES[method]! : undefined;
    const limits = packProcesses ? options.handshake : undefined;
    let handshakeOpen = limits !== undefined; // until git's own meter shows the pack
    let cut: 'bytes' | 'time' | undefined;
    const io: TreeIo = new Map(); // bytes read and written by each process of the tree so far
    // What syncer gives git on stdin (object ids) is read before git sends it on: not the remote's.
    const given = Buffer.byteLength(options.input ?? '');

    const kill = () => {
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const arm = () => {
      lastMove = Date.now();
      lastSignature = undefined;
    };
    const stop = (why: () => void) => {
      why();
      clearInterval(timer);
      kill();
    };
    // Checked a few times per deadline: quiet output alone is not a stall while bytes still move.
    // During the handshake every check also reads what the tree has read: output is no excuse there.
    const check = () => {
      const quiet = Date.now() - lastMove >= Math.min(1000, options.stallMs / 4);
      if (!quiet && !handshakeOpen) return;
      const signature = child.pid === undefined ? undefined : activitySignature(child.pid, handshakeOpen ? io : undefined);
      if (handshakeOpen && limits) {
        if (bytesTakenIn(io) - given > limits.maxBytes) return stop(() => (cut = 'bytes'));
        if (Date.now() - started >= limits.maxMs) return stop(() => (cut = 'time'));
      }
      if (!quiet) return;
      if (signature !== undefined && signature !== lastSignature) {
        if (lastSignature !== undefined) lastMove = Date.now();
        lastSignature = signature;
      }
      if (Date.now() - lastMove >= options.stallMs) stop(() => (stalled = true));
    };
    const onAbort = () => {
      aborted = true;
      kill();
    };
    // Segments end at \n or \r: the meter redraws its line with \r, and ssh ends its lines
    // with \r\n ("Host key verification failed.\r\n"), so only the meter's own lines are dropped.
    const keep = (segment: string) => {
      const event = parseProgress(segment, method);
      if (event) options.onProgress?.(event);
      const meter = isProgressLine(segment);
      // git's own meter (not the remote's "remote: Counting objects") from the process that moves the pack.
      if (meter && handshakeOpen && !/^\s*remote:/.test(segment) && child.pid !== undefined && packProcesses?.length && treeRuns(child.pid, packProcesses)) {
        handshakeOpen = false;
      }
      if (!segment.trim() || meter) return;
      if (stderr.length < MAX_STDERR) stderr += `${segment}\n`;
    };
    const finish = (exitCode: number | null) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      keep(pending);
      resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr, stalled, aborted, ...(cut ? { handshake: cut } : {}) });
    };

    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    timer = setInterval(check, Math.max(50, Math.min(1000, options.stallMs / 4)));
    child.stdout!.on('data', (d: Buffer) => {
      arm();
      out.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      arm();
      pending += d.toString('utf8');
      const segments = pending.split(/[\r\n]/);
      pending = segments.pop()!;
      for (const segment of segments) keep(segment);
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // git may exit before reading all of its input
      child.stdin.end(options.input);
    }
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      options.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    // Killed: do not wait for the pipes, which a surviving ssh or http helper may still hold.
    child.on('exit', (code) => {
      if (stalled || aborted || cut) {
        child.stdout!.destroy();
        child.stderr!.destroy();
        finish(code);
      }
    });
    child.on('close', (code) => finish(code));
  });
}
