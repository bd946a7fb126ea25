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

/** Bytes read and written by a process (rchar + wchar of /proc/<pid>/io). */
function ioBytes(pid: number): number {
  const io = readOrEmpty(`/proc/${pid}/io`);
  let n = 0;
  for (const m of io.matchAll(/^(?:rchar|wchar):\s+(\d+)$/gm)) n += Number(m[1]);
  return n;
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

/** A value that changes whenever the tree moves bytes (undefined where /proc is not there). */
export function activitySignature(root: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const pids = processTree(root);
  let io = 0;
  const inodes = new Set<string>();
  for (const pid of pids) {
    io += ioBytes(pid);
    socketInodes(pid, inodes);
  }
  const queues = inodes.size ? tcpQueues([readOrEmpty('/proc/net/tcp'), readOrEmpty('/proc/net/tcp6')], inodes) : [];
  return `${pids.length}|${io}|${queues.join(',')}`;
}
