/**
 * Line files read and written a chunk at a time: the caller takes and gives lines synchronously
 * and awaits only when a chunk has to be read or written, so a million lines cost a few hundred
 * awaits rather than millions (each costs a microtask, and the merge of a pull does nothing else).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeDirs } from '../../adapters/dirs.js';

const LF = 10;
const CR = 13;

/**
 * The lines of a file without their `\n` (and one `\r` before it), a chunk at a time: `next()`
 * until it answers undefined, then `fill()` until it answers false. A last line without `\n` is
 * a line when it is not empty. Chunks are cut after their last `\n`, so a character is never split;
 * the bytes after it move to the front of the same buffer (which grows only for a longer line), so
 * reading allocates nothing but the strings.
 *
 * By default a chunk is decoded and split at once (cheapest). `oneByOne` decodes each line when it
 * is asked for: for readers whose lines are taken slowly, many readers at a time (the runs of a
 * merge), so that a chunk's text does not live long enough for the collector to promote it.
 */
export class LineReader {
  private file: FileHandle | undefined;
  private buf: Buffer;
  /** Bytes read into `buf`; the whole lines of the current chunk end at `chunkEnd`. */
  private filled = 0;
  private chunkEnd = 0;
  /** The lines of the current chunk (split at once), or where the next one starts in `buf` (one by one). */
  private lines: string[] = [];
  private at = 0;
  private encoding: 'latin1' | 'utf8' = 'utf8';
  /** A last line without `\n`. */
  private tail: string | undefined;
  private eof = false;
  /** Every line so far ended with a bare `\n` and was valid UTF-8: the lines, each plus `\n`, are the file's bytes. */
  exact = true;

  constructor(
    readonly path: string,
    bufferBytes = 1 << 20,
    private readonly oneByOne = false,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(16, bufferBytes));
  }

  next(): string | undefined {
    if (this.tail !== undefined) {
      const t = this.tail;
      this.tail = undefined;
      return t;
    }
    if (!this.oneByOne) return this.at < this.lines.length ? this.lines[this.at++] : undefined;
    if (this.at >= this.chunkEnd) return undefined;
    const lf = this.buf.indexOf(LF, this.at);
    const end = lf > this.at && this.buf[lf - 1] === CR ? lf - 1 : lf;
    if (end < lf) this.exact = false;
    const line = this.buf.toString(this.encoding, this.at, end);
    this.at = lf + 1;
    return line;
  }

  /** Read the next lines; false at the end of the file (and then the file is closed). */
  async fill(): Promise<boolean> {
    this.buf.copyWithin(0, this.chunkEnd, this.filled);
    this.filled -= this.chunkEnd;
    this.chunkEnd = 0;
    this.lines = [];
    this.at = 0;
    while (!this.eof) {
      if (this.filled === this.buf.length) this.grow();
      this.file ??= await open(this.path, 'r');
      const { bytesRead } = await this.file.read(this.buf, this.filled, this.buf.length - this.filled, null);
      if (bytesRead === 0) {
        await this.finish();
        return this.tail !== undefined;
      }
      this.filled += bytesRead;
      const last = this.buf.lastIndexOf(LF, this.filled - 1);
      if (last < 0) continue;
      this.take(last + 1);
      return true;
    }
    return false;
  }

  private grow(): void {
    const bigger = Buffer.allocUnsafe(this.buf.length * 2);
    this.buf.copy(bigger, 0, 0, this.filled);
    this.buf = bigger;
  }

  /** The whole lines of `buf` up to `end` (after a `\n`). */
  private take(end: number): void {
    const bytes = this.buf.subarray(0, end);
    this.chunkEnd = end;
    if (this.oneByOne) {
      this.encoding = isAscii(bytes) ? 'latin1' : 'utf8';
      if (this.exact && this.encoding === 'utf8' && !isUtf8(bytes)) this.exact = false;
      return;
    }
    if (this.exact && !isUtf8(bytes)) this.exact = false;
    const lines = bytes.toString('utf8', 0, end - 1).split('\n');
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      if (l.charCodeAt(l.length - 1) === CR) {
        lines[i] = l.slice(0, -1);
        this.exact = false;
      }
    }
    this.lines = lines;
  }

  /** The end: what is left is a last line without `\n`. */
  private async finish(): Promise<void> {
    this.eof = true;
    if (this.filled) {
      this.exact = false;
      const l = this.buf.toString('utf8', 0, this.filled);
      this.tail = l.charCodeAt(l.length - 1) === CR ? l.slice(0, -1) : l;
      this.filled = 0;
    }
    await this.close();
  }

  async close(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    this.eof = true;
    await f?.close();
  }
}

/** Lines of a file (without their `\n` or `\r\n`), streamed. */
export async function* readLines(path: string, bufferBytes = 1 << 20): AsyncGenerator<string> {
  const r = new LineReader(path, bufferBytes);
  try {
    while (await r.fill()) for (let l = r.next(); l !== undefined; l = r.next()) yield l;
  } finally {
    await r.close();
  }
}

const CAPACITY = 1 << 20;
/**
 * Written buffers for the next writer (the spill of every run, the merge): reused rather than
 * left to the garbage collector, which frees memory outside the heap late (peak RSS).
 */
const spare: Buffer[] = [];
const SPARE_MAX = 4;
const pooled = new WeakSet<ArrayBufferLike>();

function takeBuffer(): Buffer {
  const b = spare.pop();
  if (b) return b;
  const fresh = Buffer.allocUnsafeSlow(CAPACITY);
  pooled.add(fresh.buffer);
  return fresh;
}

function giveBack(b: Buffer): void {
  if (pooled.has(b.buffer) && spare.length < SPARE_MAX) spare.push(Buffer.from(b.buffer, 0, CAPACITY));
}

/**
 * A buffered writer: `put` encodes into a 1 MB buffer (no string concatenation, no stream), and
 * `flush` writes the full buffers, one write at a time (that wait is the back-pressure). The file
 * is opened by the first write, so a failure to open surfaces where writes fail.
 */
export class LineWriter {
  private file: FileHandle | undefined;
  private buf = takeBuffer();
  private used = 0;
  private readonly full: Buffer[] = [];
  private closed = false;

  constructor(readonly path: string) {
    makeDirs(dirname(path));
  }

  /** Buffer `text`; `needsFlush` says when to await `flush()`. */
  put(text: string): void {
    if (text.length * 3 > this.buf.length - this.used) {
      this.rotate();
      if (text.length * 3 > this.buf.length) {
        this.full.push(Buffer.from(text, 'utf8'));
        return;
      }
    }
    this.used += this.buf.write(text, this.used, 'utf8');
  }

  /** `text` and a `\n`. */
  putLine(text: string): void {
    this.put(text);
    if (this.used === this.buf.length) this.rotate();
    this.buf[this.used++] = LF;
  }

  /** Bytes `start` to `end` of `src` as they are. */
  putBytes(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n > this.buf.length - this.used) {
      this.rotate();
      if (n > this.buf.length) {
        this.full.push(Buffer.from(src.subarray(start, end)));
        return;
      }
    }
    this.used += src.copy(this.buf, this.used, start, end);
  }

  get needsFlush(): boolean {
    return this.full.length > 0;
  }

  async write(text: string): Promise<void> {
    this.put(text);
    if (this.full.length) await this.flush();
  }

  /** Write the full buffers. */
  async flush(): Promise<void> {
    this.file ??= await open(this.path, 'w');
    while (this.full.length) {
      const b = this.full.shift()!;
      for (let off = 0; off < b.length; ) off += (await this.file.write(b, off, b.length - off)).bytesWritten;
      giveBack(b);
    }
  }

  async close(): Promise<void> {
    this.rotate();
    await this.flush();
    this.closed = true;
    giveBack(this.buf);
    const f = this.file;
    this.file = undefined;
    await f!.close();
  }

  /** Close without caring (clean-up after a failure). */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.full.length = 0;
    this.file?.close().catch(() => undefined);
    this.file = undefined;
  }

  private rotate(): void {
    if (this.used === 0) return;
    this.full.push(this.buf.subarray(0, this.used));
    this.buf = takeBuffer();
    this.used = 0;
  }
}
