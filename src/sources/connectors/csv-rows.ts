/**
 * A fast reader for the common CSV: UTF-8, a one-character delimiter, `"` quotes, `\n` or `\r\n`
 * line ends. It gives what csv-parse gives with the options `fetchCsv` uses (records keyed by the
 * trimmed header, the line each ends on, the same message for a row with the wrong number of
 * fields), at a fraction of the cost: it works on decoded text a chunk at a time instead of byte by
 * byte, and builds no info object per row.
 *
 * Anything else (a stray quote, a lone `\r`, invalid UTF-8, another encoding or a BOM that
 * switches to one, an unclosed quote) is csv-parse's to judge: `feed` answers false, and `handOver`
 * says where csv-parse takes over, in a state where it counts lines as it would have from the start.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import type { Rec } from '../core/records.js';

const LF = 10;
const CR = 13;
const QUOTE = 34;
const EMPTY = Buffer.alloc(0);
/** A record (or a header) longer than this goes to csv-parse: the fast reader rescans an incomplete record. */
const MAX_PENDING = 16 << 20;

export interface CsvRows {
  records: Rec[];
  /** The line each record ends on. */
  lines: number[];
}

/** A row csv-parse would skip, as csv-parse reports it (`lines`: where it ends). */
export interface SkippedRow extends Error {
  lines: number;
}

/** Where csv-parse takes over: the header it should assume (none: from the start) and the bytes to give it first. */
export interface HandOver {
  columns: string[] | undefined;
  head: Buffer;
}

/** The delimiter, when the fast reader can read such a file (else undefined). */
export function fastDelimiter(delimiter: string, quote: string, encoding: string): number | undefined {
  if (quote !== '"' || encoding !== 'utf8' || delimiter.length !== 1) return undefined;
  const c = delimiter.charCodeAt(0);
  return c < 128 && c !== QUOTE && c !== LF && c !== CR ? c : undefined;
}

export class FastCsv {
  /** The trimmed header, once read. */
  header: string[] | undefined;
  /** The keys of every record, in order (the header without repeats). */
  columns: string[] | undefined;
  private pending: Buffer = EMPTY;
  /** Where the pending bytes and the next chunk are put together (reused: no buffer per chunk for the collector). */
  private work: Buffer = EMPTY;
  /** The line the pending bytes start on. */
  private line = 1;
  private eol: 'lf' | 'crlf' | undefined;
  private protoColumn = false;

  constructor(
    private readonly delimiter: number,
    private readonly onSkip: (err: SkippedRow) => void,
  ) {}

  /**
   * Parse a chunk (undefined: the end of the input) into `out`; false when csv-parse must read the
   * rest (`handOver`). Before the header is complete, every chunk is read from the file's start.
   */
  feed(chunk: Buffer | undefined, out: CsvRows): boolean {
    const eof = chunk === undefined;
    const buf = chunk === undefined ? this.pending : this.joined(chunk);
    if (!this.header && !eof && buf.length < 3) return this.wait(buf);
    const start = this.header ? 0 : bomLength(buf);
    if (start < 0) return this.stop(buf);
    const end = eof ? buf.length : buf.lastIndexOf(LF) + 1;
    if (end <= start) return eof || this.wait(buf);
    const seg = buf.subarray(start, end);
    const ascii = isAscii(seg);
    if (!ascii && !isUtf8(seg)) return this.stop(buf);
    const text = seg.toString(ascii ? 'latin1' : 'utf8');
    const before = { line: this.line, eol: this.eol };
    const r = this.parse(text, eof, out);
    if (!this.header) {
      // Not even the header yet: start again from the file's first byte with the next chunk.
      Object.assign(this, before);
      return r.ok ? eof || this.wait(buf) : this.stop(buf);
    }
    const used = start + (ascii ? r.used : Buffer.byteLength(text.slice(0, r.used)));
    this.pending = buf.subarray(used);
    if (!r.ok) return false;
    return eof || this.pending.length <= MAX_PENDING;
  }

  /** What csv-parse reads before the rest of the input, to be where the fast reader stopped. */
  handOver(): HandOver {
    if (!this.header) return { columns: undefined, head: this.pending };
    const eol = this.eol === 'crlf' ? '\r\n' : '\n';
    // The lines already read, as empty lines: csv-parse skips them and counts them.
    return { columns: this.header, head: Buffer.concat([Buffer.from(eol.repeat(this.line - 1)), this.pending]) };
  }

  /** The pending bytes, then `chunk`. */
  private joined(chunk: Buffer): Buffer {
    const p = this.pending;
    if (!p.length) return chunk;
    const n = p.length + chunk.length;
    if (n > this.work.length) {
      const bigger = Buffer.allocUnsafe(Math.max(n, 2 * this.work.length, 1 << 16));
      p.copy(bigger);
      this.work = bigger;
    } else if (p.buffer === this.work.buffer) {
      this.work.copyWithin(0, p.byteOffset - this.work.byteOffset, p.byteOffset - this.work.byteOffset + p.length);
    } else {
      p.copy(this.work);
    }
    chunk.copy(this.work, p.length);
    return this.work.subarray(0, n);
  }

  private wait(buf: Buffer): boolean {
    this.pending = buf;
    return buf.length <= MAX_PENDING;
  }

  private stop(buf: Buffer): false {
    this.pending = buf;
    return false;
  }

  /**
   * Records of `text` (whole lines, or the rest at the end of the input) into `out`. `used`: the
   * characters of the complete records; `ok` false where csv-parse must take over (at `used`).
   */
  private parse(text: string, eof: boolean, out: CsvRows): { used: number; ok: boolean } {
    let pos = 0;
    while (pos < text.length) {
      const r = this.record(text, pos, eof, out);
      if (r < 0) return { used: pos, ok: r === INCOMPLETE };
      pos = r;
    }
    return { used: pos, ok: true };
  }

  /** One record (or empty line) from `pos`: the position after it, INCOMPLETE or HARD. */
  private record(text: string, pos: number, eof: boolean, out: CsvRows): number {
    let line = this.line;
    const empty = this.lineEnd(text, pos);
    if (empty !== 0) {
      if (empty < 0) return HARD;
      this.line = line + 1;
      return pos + empty;
    }
    const fields: string[] = [];
    for (;;) {
      let value: string;
      if (text.charCodeAt(pos) === QUOTE) {
        const q = this.quoted(text, pos, eof, line);
        if (q.next < 0) return q.next;
        value = q.value;
        line = q.line;
        pos = q.next;
      } else {
        const end = this.unquotedEnd(text, pos);
        if (end < 0) return HARD;
        value = text.slice(pos, end);
        pos = end;
      }
      fields.push(value);
      if (pos >= text.length) {
        if (!eof) return INCOMPLETE;
        this.emit(fields, line, out);
        this.line = line;
        return pos;
      }
      if (text.charCodeAt(pos) === this.delimiter) {
        pos++;
        continue;
      }
      const eol = this.lineEnd(text, pos);
      if (eol <= 0) return HARD;
      this.emit(fields, line, out);
      this.line = line + 1;
      return pos + eol;
    }
  }

  /** The length of the line end at `pos` (0: none; HARD: one csv-parse reads differently), learning `\n` or `\r\n` from the first. */
  private lineEnd(text: string, pos: number): number {
    const c = text.charCodeAt(pos);
    if (c !== LF && c !== CR) return 0;
    const crlf = c === CR && text.charCodeAt(pos + 1) === LF;
    if (c === CR && !crlf) return HARD;
    this.eol ??= crlf ? 'crlf' : 'lf';
    return this.eol === 'crlf' ? (crlf ? 2 : HARD) : c === LF ? 1 : HARD;
  }

  /** The end of an unquoted field: the next delimiter or line end; HARD at a quote inside it. */
  private unquotedEnd(text: string, pos: number): number {
    const d = this.delimiter;
    for (let i = pos; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === d || c === LF || c === CR) return i;
      if (c === QUOTE) return HARD;
    }
    return text.length;
  }

  /** A quoted field from its opening quote: `""` is a quote, and each line break inside counts a line, as csv-parse counts them. */
  private quoted(text: string, pos: number, eof: boolean, line: number): { value: string; line: number; next: number } {
    let value = '';
    let from = pos + 1;
    for (;;) {
      const q = text.indexOf('"', from);
      if (q < 0) return { value, line, next: eof ? HARD : INCOMPLETE };
      line += breaks(text, from, q);
      const after = text.charCodeAt(q + 1);
      if (after === QUOTE) {
        value += text.slice(from, q + 1);
        from = q + 2;
        continue;
      }
      if (q + 1 < text.length && after !== this.delimiter && after !== LF && after !== CR) return { value, line, next: HARD };
      return { value: value + text.slice(from, q), line, next: q + 1 };
    }
  }

  private emit(fields: string[], line: number, out: CsvRows): void {
    if (!this.header) {
      this.header = fields.map((h) => h.trim());
      this.columns = [...new Set(this.header)];
      this.protoColumn = this.header.includes('__proto__');
      return;
    }
    const names = this.header;
    if (fields.length !== names.length) {
      const message = `Invalid Record Length: columns length is ${names.length}, got ${fields.length} on line ${line}`;
      this.onSkip(Object.assign(new Error(message), { code: 'CSV_RECORD_INCONSISTENT_COLUMNS', lines: line }));
      return;
    }
    const rec: Rec = {};
    for (let i = 0; i < names.length; i++) {
      // csv-parse defines the properties: `__proto__` is then a key, not the prototype.
      if (this.protoColumn) Object.defineProperty(rec, names[i]!, { value: fields[i], enumerable: true, writable: true, configurable: true });
      else rec[names[i]!] = fields[i];
    }
    out.records.push(rec);
    out.lines.push(line);
  }
}

const INCOMPLETE = -1;
const HARD = -2;

/** Line breaks csv-parse counts inside a quoted field: every `\r` and every `\n`. */
function breaks(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || c === CR) n++;
  }
  return n;
}

/** 3 after a UTF-8 BOM (csv-parse drops it), 0 without one, -1 for a UTF-16 BOM (csv-parse changes encoding). */
function bomLength(buf: Buffer): number {
  if (buf.length < 3) return 0;
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return 3;
  return buf[0] === 0xff && buf[1] === 0xfe ? -1 : 0;
}
