/**
 * What a source run needs from the process that runs it: environment, cancellation, clock and
 * the messages it writes. The command builds it from its runtime, so src/sources/ knows nothing
 * of the CLI.
 */
export interface SourceIo {
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  now(): Date;
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}
