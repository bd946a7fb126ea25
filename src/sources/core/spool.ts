/**
 * An external sort in bounded memory: entries (a sort key and a one-line text) are buffered up to
 * a number of entries or of bytes, sorted (stably) and written as a run; the runs are then
 * merged, at most FAN_IN at a time, so neither the buffer nor the merge grows with the input.
 * The merged entries come in batches, so the consumer awaits once per batch, not per entry.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { LineReader, LineWriter } from './lines.js';

export interface Entry {
  key: string;
  text: string;
}

/** Entries in order: `keys[i]` goes with `texts[i]`. */
export interface SortedBatch {
  keys: string[];
  texts: string[];
}

/** Bytes of text buffered before a spill whatever the entry count: large records do not multiply the chunk's memory. */
const MAX_BUFFERED_BYTES = 16 << 20;
/** Runs merged at once: each holds a read buffer and a file descriptor. */
const FAN_IN = 64;
const RUN_READ_BYTES = 64 * 1024;
const BATCH = 4096;

/**
 * Entries with equal keys come out in the order they were added. Texts must not contain a newline
 * (JSON text never does). The buffered entries are kept as the lines of their run, encoded in one
 * reused buffer outside the JavaScript heap, with their positions in typed arrays: a chunk of
 * entries is not a chunk of strings for the garbage collector to promote, move and free.
 */
export class SortSpool {
  private data = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  /** Per buffered entry: where its line starts in `data`, and where the tab after its key is (the line ends before the next one). */
  private starts = new Uint32Array(1024);
  private tabs = new Uint32Array(1024);
  private n = 0;
  /** A spill's order and the sort's scratch space: kept from one spill to the next rather than reallocated. */
  private order = new Uint32Array(0);
  private scratch = new Uint32Array(0);
  private runs: string[] = [];
  private made = 0;
  count = 0;

  constructor(
    private readonly dir: string,
    private readonly chunkSize = 100_000,
  ) {}

  /** Buffer an entry whose text is `head` then `tail`; true when the buffer is full and `spill()` is due. */
  push(key: string, head: string, tail = ''): boolean {
    const k = encodeKey(key);
    this.reserve((k.length + head.length + tail.length) * 3 + 2);
    const at = this.n++;
    this.starts[at] = this.used;
    this.used += this.data.write(k, this.used, 'utf8');
    this.tabs[at] = this.used;
    this.data[this.used++] = TAB;
    this.used += this.data.write(head, this.used, 'utf8');
    if (tail) this.used += this.data.write(tail, this.used, 'utf8');
    this.data[this.used++] = LF;
    this.count++;
    return this.n >= this.chunkSize || this.used >= MAX_BUFFERED_BYTES;
  }

  async add(key: string, text: string): Promise<void> {
    if (this.push(key, text)) await this.spill();
  }

  private reserve(bytes: number): void {
    if (this.n === this.starts.length) {
      this.starts = grow(this.starts);
      this.tabs = grow(this.tabs);
    }
    if (this.used + bytes <= this.data.length) return;
    let size = this.data.length * 2;
    while (size < this.used + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.data.copy(grown, 0, 0, this.used);
    this.data = grown;
  }

  /** Where buffered entry `i`'s line ends (its `\n`). */
  private end(i: number): number {
    return (i + 1 < this.n ? this.starts[i + 1]! : this.used) - 1;
  }

  /** The buffered entries' indexes in key order (ties in the order they were added), and their keys. */
  private sortedOrder(): { order: Uint32Array; keys: string[] } {
    // Fresh each time: the keys are garbage once sorted, before the collector thinks them worth keeping.
    const keys: string[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) keys[i] = decodeKey(this.data.toString('utf8', this.starts[i], this.tabs[i]));
    if (this.order.length < this.n) {
      this.order = new Uint32Array(this.starts.length);
      this.scratch = new Uint32Array(this.starts.length);
    }
    const order = this.order.subarray(0, this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    mergeSort(order, this.scratch, keys);
    return { order, keys };
  }

  private clear(): void {
    this.n = 0;
    this.used = 0;
  }

  /** Sort the buffer and write it as a run. */
  async spill(): Promise<void> {
    const { order } = this.sortedOrder();
    const w = new LineWriter(this.nextRunPath());
    try {
      for (const i of order) {
        w.putBytes(this.data, this.starts[i]!, this.end(i) + 1);
        if (w.needsFlush) await w.flush();
      }
      await w.close();
    } catch (e) {
      w.abandon();
      throw e;
    } finally {
      this.clear();
    }
    this.runs.push(w.path);
  }

  async *sorted(): AsyncGenerator<Entry> {
    for await (const b of this.batches()) for (let i = 0; i < b.keys.length; i++) yield { key: b.keys[i]!, text: b.texts[i]! };
  }

  /** Every entry, sorted, in batches. */
  async *batches(size = BATCH): AsyncGenerator<SortedBatch> {
    if (this.runs.length === 0) {
      const { order, keys } = this.sortedOrder();
      const all = Array.from(order, (i) => ({ key: keys[i]!, text: this.data.toString('utf8', this.tabs[i]! + 1, this.end(i)) }));
      this.clear();
      for (let at = 0; at < all.length; at += size) {
        const part = all.slice(at, at + size);
        yield { keys: part.map((e) => e.key), texts: part.map((e) => e.text) };
      }
      return;
    }
    if (this.n) await this.spill();
    while (this.runs.length > FAN_IN) await this.mergeFirstRuns();
    yield* mergeRuns(this.runs, size);
  }

  /** The first FAN_IN runs merged into one that takes their place (they are the earliest: ties keep their order). */
  private async mergeFirstRuns(): Promise<void> {
    const first = this.runs.slice(0, FAN_IN);
    const w = new LineWriter(this.nextRunPath());
    try {
      for await (const b of mergeRuns(first, BATCH)) {
        for (let i = 0; i < b.keys.length; i++) {
          w.put(encodeKey(b.keys[i]!));
          w.put('\t');
          w.putLine(b.texts[i]!);
        }
        if (w.needsFlush) await w.flush();
      }
      await w.close();
    } catch (e) {
      w.abandon();
      throw e;
    }
    for (const p of first) rmSync(p, { force: true });
    this.runs = [w.path, ...this.runs.slice(FAN_IN)];
  }

  private nextRunPath(): string {
    return join(this.dir, `run-${this.made++}.txt`);
  }
}

const TAB = 9;
const LF = 10;

function grow(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

/**
 * Sort `order` (indexes into `keys`) by key, stably, with `scratch` as long as it: a bottom-up
 * merge sort, which allocates nothing (the built-in sort takes a work array of its own each time).
 */
function mergeSort(order: Uint32Array, scratch: Uint32Array, keys: string[]): void {
  const n = order.length;
  let from = order;
  let to = scratch.subarray(0, n);
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) to[k++] = keys[from[j]!]! < keys[from[i]!]! ? from[j++]! : from[i++]!;
      while (i < mid) to[k++] = from[i++]!;
      while (j < hi) to[k++] = from[j++]!;
    }
    [from, to] = [to, from];
  }
  if (from !== order) order.set(from);
}

const decodeKey = (k: string) => (k.charCodeAt(0) === 34 ? (JSON.parse(k) as string) : k);

/** A key as the run file keeps it: as it is, or as JSON when it holds what a line cannot (or starts like JSON). */
function encodeKey(key: string): string {
  return key.charCodeAt(0) === 34 || /[\t\n\r\ud800-\udfff]/.test(key) ? JSON.stringify(key) : key;
}

/** The runs merged in key order, ties to the earlier run (stable). */
async function* mergeRuns(paths: string[], size: number): AsyncGenerator<SortedBatch> {
  const heap = new HeadHeap();
  const cursors = paths.map((p, i) => new RunCursor(i, new LineReader(p, RUN_READ_BYTES, true)));
  try {
    for (const c of cursors) if (await c.advance()) heap.push(c);
    while (heap.size) {
      const keys: string[] = [];
      const texts: string[] = [];
      while (heap.size && keys.length < size) {
        const c = heap.top;
        keys.push(c.key);
        texts.push(c.text);
        let more = c.advance();
        if (more !== true && more !== false) more = await more;
        if (more) heap.siftTop();
        else heap.removeTop();
      }
      yield { keys, texts };
    }
  } finally {
    for (const c of cursors) await c.close();
  }
}

/** The current entry of one run. */
class RunCursor {
  key = '';
  text = '';

  constructor(
    readonly run: number,
    private readonly reader: LineReader,
  ) {}

  /** Move to the next entry: true, false at the end, or a promise of that when a chunk has to be read. */
  advance(): boolean | Promise<boolean> {
    const line = this.reader.next();
    if (line === undefined) return this.refill();
    this.decode(line);
    return true;
  }

  close(): Promise<void> {
    return this.reader.close();
  }

  private async refill(): Promise<boolean> {
    while (await this.reader.fill()) {
      const line = this.reader.next();
      if (line !== undefined) {
        this.decode(line);
        return true;
      }
    }
    return false;
  }

  private decode(line: string): void {
    const tab = line.indexOf('\t');
    this.key = decodeKey(line.slice(0, tab));
    this.text = line.slice(tab + 1);
  }
}

/** A binary min-heap of the runs' current entries; ties go to the earlier run. */
class HeadHeap {
  private readonly heap: RunCursor[] = [];

  get size(): number {
    return this.heap.length;
  }

  get top(): RunCursor {
    return this.heap[0]!;
  }

  push(c: RunCursor): void {
    const heap = this.heap;
    heap.push(c);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  }

  /** The top moved on to its next entry: put it where it now belongs. */
  siftTop(): void {
    const heap = this.heap;
    const n = heap.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && less(heap[l]!, heap[m]!)) m = l;
      if (r < n && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }

  /** The top run is finished. */
  removeTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    this.siftTop();
  }
}

const less = (a: RunCursor, b: RunCursor) => (a.key === b.key ? a.run < b.run : a.key < b.key);
