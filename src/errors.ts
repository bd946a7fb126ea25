/**
 * The single table of exit codes (SPEC.md "Output and exit codes") and the one error class
 * every layer throws. Only the entry point turns an error into an exit code.
 */
export const ExitCode = {
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  REGISTRY: 3,
  GIT: 4,
  VERIFY: 5,
  INTERRUPTED: 130,
} as const;

export type ErrorKind = Exclude<keyof typeof ExitCode, 'OK'>;

export class SyncerError extends Error {
  readonly kind: ErrorKind;
  readonly hint?: string;

  constructor(kind: ErrorKind, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SyncerError';
    this.kind = kind;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return ExitCode[this.kind];
  }
}

export const usageError = (message: string, hint?: string) => new SyncerError('USAGE', message, { hint });
export const verifyError = (message: string, hint?: string) => new SyncerError('VERIFY', message, { hint });

export function isSyncerError(e: unknown): e is SyncerError {
  return e instanceof SyncerError;
}

/** Thrown when the user interrupts (SIGINT/SIGTERM) or a prompt is cancelled. */
export const interrupted = () => new SyncerError('INTERRUPTED', 'interrupted');
