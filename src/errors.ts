/**
 * The single table of exit codes (docs/scripting.md lists them for script authors) and the one
 * error class every layer throws. Only the entry point turns an error into an exit code.
 */
export const ExitCode = {
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  /** etcd unreachable, refused or unauthorised. */
  REGISTRY: 3,
  /** A remote failed: git (push rejected, clone failed, unreachable) or a data source (HTTP, database, file). */
  REMOTE: 4,
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

/** Whether `e` is a SyncerError of one of these kinds: the one test for "which failure was it". */
export function hasKind(e: unknown, ...kinds: ErrorKind[]): e is SyncerError {
  return e instanceof SyncerError && kinds.includes(e.kind);
}

/** Thrown when the user interrupts (SIGINT/SIGTERM) or a prompt is cancelled. */
export const interrupted = () => new SyncerError('INTERRUPTED', 'interrupted');

/** Errors of the file system that come from the user's paths or machine, not from a bug. */
const FILE_SYSTEM_CODES: Record<string, string> = {
  ENOTDIR: 'a part of the path is a file, not a directory',
  EEXIST: 'a file is in the way',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
};

/**
 * A file-system error that escaped a command (a target path under a file, a full disk) as a
 * usage error naming the path, instead of "a bug in syncer".
 */
export function fileSystemError(e: unknown): SyncerError | undefined {
  const err = e as NodeJS.ErrnoException | undefined;
  // ENOENT is a user's path only when creating a directory (under /proc, say); elsewhere it may be ours.
  const reason = err?.code === 'ENOENT' && err.syscall === 'mkdir' ? 'it cannot be created there' : err?.code ? FILE_SYSTEM_CODES[err.code] : undefined;
  if (!reason || !(e instanceof Error)) return undefined;
  const syscall = err!.syscall ? `${err!.syscall} ` : '';
  const path = err!.path ?? (err as { dest?: string }).dest;
  return new SyncerError('USAGE', `cannot ${syscall}${path ?? ''}: ${reason} (${err!.code})`.replace('  ', ' '), {
    hint: 'check the path (--into, importDir, --config, --state ...) and its permissions',
    cause: e,
  });
}
