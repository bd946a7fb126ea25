/**
 * Is a git process tree moving bytes? On Linux, read from /proc: the tree's read/write byte
 * counters and the send/receive queues of its TCP sockets. Output alone cannot tell: on a slow
 * link, `git push` prints "Writing objects: 100%" as soon as the kernel's socket buffers take the
 * pack, then nothing until the server answers, while the queue drains at the link's pace (on
 * this machine's end, or on the peer's where the peer is local too, as with a proxy or tunnel).
 * Elsewhere (no /proc) the answer is undefined and the caller falls back to output alone.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The pid and its descendants (via /proc/<pid>/task/<tid>/children). */
export function processTree(root: number): number[] {
  const seen = [root];
  for (let i = 0; i < seen.length && seen.length < 256; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${seen[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      for (const c of readOrEmpty(`/proc/${seen[i]}/task/${t}/children`).split(/\s+/)) if (c) seen.push(Number(c));
    }
  }
  return seen;
}

/** Bytes read and bytes written by a process (rchar and wchar of /proc/<pid>/io). */
function ioBytes(pid: number): { read: number; written: number } {
  const io = readOrEmpty(`/proc/${pid}/io`);
  return { read: Number(/^rchar:\s+(\d+)$/m.exec(io)?.[1] ?? 0), written: Number(/^wchar:\s+(\d+)$/m.exec(io)?.[1] ?? 0) };
}

function socketInodes(pid: number, into: Set<string>): void {
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) into.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
}

/**
 * "tx_queue:rx_queue" of each listed TCP socket, from /proc/net/tcp and tcp6, and of its peer
 * where the peer is on this machine too (a local proxy or tunnel): bytes the kernel took from git
 * but the other end has not read yet are not moving until that queue drains.
 */
export function tcpQueues(tables: string[], inodes: Set<string>): string[] {
  const rows = tables.flatMap((t) =>
    t
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols.length > 9)
      .map((cols) => ({ local: cols[1]!, remote: cols[2]!, queues: cols[4]!, inode: cols[9]! })),
  );
  const ours = rows.filter((r) => inodes.has(r.inode));
  const out = ours.map((r) => `${r.inode}=${r.queues}`);
  for (const r of ours) {
    const peer = rows.find((p) => p.local === r.remote && p.remote === r.local);
    if (peer) out.push(`${r.inode}>${peer.queues}`);
  }
  return out.sort();
}

/**
 * Whether a process of the tree runs one of the git `verbs` ("index-pack"...): its command line
 * has the verb as a word. Where /proc is not there: true (the caller cannot tell, and does not wait).
 */
export function treeRuns(root: number, verbs: readonly string[]): boolean {
  if (process.platform !== 'linux') return true;
  return processTree(root).some((pid) =>
    readOrEmpty(`/proc/${pid}/cmdline`)
      .split('\0')
      .slice(0, 3)
      .some((word) => verbs.includes(word)),
  );
}

/** Bytes read and written by each process of a tree so far, by pid (kept after a process exits). */
export type TreeIo = Map<number, { read: number; written: number }>;

/**
 * What the tree took in, by its counters in `io`: bytes read less bytes written. What one of its
 * processes writes to another (git and ssh or git-remote-https, over pipes) is counted once each
 * way and cancels out, and so does what it relays (the ids it was given on stdin, sent on as
 * "want" lines), which leaves what came from the network (and the few local files read) less what
 * went out to it and to syncer (git's messages).
 */
export function bytesTakenIn(io: TreeIo): number {
  let n = 0;
  for (const { read, written } of io.values()) n += read - written;
  return Math.max(0, n);
}

/**
 * A value that changes whenever the tree moves bytes (undefined where /proc is not there). With
 * `io`, each process's counters are recorded there too (bytesTakenIn).
 */
export function activitySignature(root: number, io?: TreeIo): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const pids = processTree(root);
  let moved = 0;
  const inodes = new Set<string>();
  for (const pid of pids) {
    const counters = ioBytes(pid);
    moved += counters.read + counters.written;
    // A process that has exited (or whose counters cannot be read) keeps its last counters.
    if (io && counters.read + counters.written > 0) io.set(pid, counters);
    socketInodes(pid, inodes);
  }
  const queues = inodes.size ? tcpQueues([readOrEmpty('/proc/net/tcp'), readOrEmpty('/proc/net/tcp6')], inodes) : [];
  return `${pids.length}|${moved}|${queues.join(',')}`;
}
