/**
 * Where things are printed: data to stdout (exactly one JSON document with --json), messages,
 * warnings and progress to stderr. Registry text is escaped before it reaches a terminal.
 */
import type { Writable } from 'node:stream';
import { createRequire } from 'node:module';
import type TableType from 'cli-table3';
import type CliProgress from 'cli-progress';
import { escapeControl } from '../core/sanitize.js';
import { SkipSummary } from '../core/skip-summary.js';
import { SyncerError } from '../errors.js';

// Loaded when first drawn: most runs print no table or bar, and start-up is part of the product.
const require = createRequire(import.meta.url);
const loadTable = () => require('cli-table3') as typeof TableType;
const loadProgress = () => require('cli-progress') as typeof CliProgress;

export interface OutputOptions {
  stdout: Writable;
  stderr: Writable;
  json: boolean;
  verbose: boolean;
  stderrIsTTY: boolean;
}

export class Output {
  private readonly skips: SkipSummary;

  constructor(readonly options: OutputOptions) {
    this.skips = new SkipSummary(options.verbose);
  }

  get json(): boolean {
    return this.options.json;
  }

  /** The command's result: JSON with --json, else the text rendering. */
  result(data: unknown, text: () => string): void {
    if (this.options.json) this.options.stdout.write(`${JSON.stringify(data)}\n`);
    else {
      const t = text();
      if (t) this.options.stdout.write(t.endsWith('\n') ? t : `${t}\n`);
    }
  }

  /**
   * One NDJSON line (streaming commands). Resolves once the line is handed to the reader, and
   * rejects if the reader went away (`syncer watch | head -1`): a watcher must not record as done
   * an event nobody received.
   */
  event(data: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      this.options.stdout.write(`${JSON.stringify(data)}\n`, (err) => {
        if (err) reject(new SyncerError('INTERRUPTED', `stopped: standard output was closed (${(err as NodeJS.ErrnoException).code ?? err.message})`));
        else resolve();
      });
    });
  }

  info(message: string): void {
    this.options.stderr.write(`${message}\n`);
  }

  warn(message: string): void {
    this.options.stderr.write(`warning: ${message}\n`);
  }

  /** A registry entry a reader skips: the first of each kind in full, the rest summed up by flushSkips(). */
  skip(entry: string, problem: string): void {
    const line = this.skips.add(escapeControl(entry), escapeControl(problem));
    if (line !== undefined) this.warn(line);
  }

  /** The summary lines of skipped entries (at the end of a command, or after a watcher's catch-up). */
  flushSkips(): void {
    for (const line of this.skips.summary()) this.warn(line);
  }

  debug(message: string): void {
    if (this.options.verbose) this.options.stderr.write(`debug: ${message}\n`);
  }

  /** A borderless table; every cell escaped (registry text may carry terminal escapes). */
  table(head: string[], rows: (string | number)[][]): string {
    const Table = loadTable();
    const t = new Table({
      head,
      chars: {
        top: '',
        'top-mid': '',
        'top-left': '',
        'top-right': '',
        bottom: '',
        'bottom-mid': '',
        'bottom-left': '',
        'bottom-right': '',
        left: '',
        'left-mid': '',
        mid: '',
        'mid-mid': '',
        right: '',
        'right-mid': '',
        middle: '  ',
      },
      style: { head: this.options.stderrIsTTY ? ['bold'] : [], border: [], 'padding-left': 0, 'padding-right': 0 },
    });
    for (const row of rows) t.push(row.map((c) => (typeof c === 'string' ? escapeControl(c) : c)));
    return t.toString();
  }

  /** A progress reporter for git: a bar on a TTY (not with --json), nothing otherwise. */
  progress(label: string): { update: (stage: string, percent: number) => void; stop: () => void } | undefined {
    if (!this.options.stderrIsTTY || this.options.json) return undefined;
    const cliProgress = loadProgress();
    const bar = new cliProgress.SingleBar(
      { format: `${label} {stage} [{bar}] {percentage}%`, stream: this.options.stderr as NodeJS.WriteStream, hideCursor: false, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (stage, percent) => {
        if (!started) {
          bar.start(100, 0, { stage });
          started = true;
        }
        bar.update(Math.min(100, Math.max(0, percent)), { stage });
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
}
