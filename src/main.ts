/** The entry point: parse, run, and turn errors into exit codes. Nothing else exits. */
import { readFileSync, statSync } from 'node:fs';
import { ExitCode, fileSystemError, hasKind, SyncerError } from './errors.js';
import type { parseArgs } from './cli.js';
import type { Deps } from './runtime.js';

/**
 * `syncer --version` (and `--version --json`) alone: answered before the parser and the commands'
 * declarations load (start-up is what this command measures); any other use of --version goes
 * through the parser, which answers it the same way.
 */
function versionOnly(argv: string[], deps: Deps): boolean {
  const json = argv.length === 2 && argv.includes('--json');
  if (!argv.includes('--version') || argv.length > 2 || (argv.length === 2 && !json)) return false;
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  deps.stdout.write(json ? `${JSON.stringify({ version })}\n` : `${version}\n`);
  return true;
}

function report(deps: Deps, e: unknown, verbose: boolean): number {
  e = fileSystemError(e) ?? e;
  if (e instanceof SyncerError) {
    if (e.kind === 'INTERRUPTED') deps.stderr.write(`${e.message === 'interrupted' ? 'interrupted' : e.message}\n`);
    else deps.stderr.write(`error: ${e.message}\n`);
    if (e.hint) deps.stderr.write(`hint: ${e.hint}\n`);
    if (verbose && e.cause instanceof Error) deps.stderr.write(`cause: ${e.cause.stack ?? e.cause.message}\n`);
    return e.exitCode;
  }
  deps.stderr.write(`unexpected error (a bug in syncer): ${(e as Error)?.message ?? e}\n`);
  if (verbose && e instanceof Error) deps.stderr.write(`${e.stack}\n`);
  else deps.stderr.write('hint: run again with --verbose for the stack trace, and report it\n');
  return ExitCode.UNEXPECTED;
}

/**
 * `syncer --help` (or `-h`) alone: the page `npm run build` drew (cli/write-help.ts) when it is
 * there for this width and newer than this file (else drawn from the commands' declarations).
 */
function prerenderedHelp(argv: string[], deps: Deps): boolean {
  if (argv.length !== 1 || (argv[0] !== '--help' && argv[0] !== '-h')) return false;
  const columns = (deps.stdout as NodeJS.WriteStream).columns;
  const width = Math.min(columns ?? 100, 110); // cli.ts's helpWidth, without loading the parser
  try {
    const file = new URL('./cli/root-help.json', import.meta.url);
    if (statSync(file).mtimeMs < statSync(new URL(import.meta.url)).mtimeMs) return false;
    const page = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)[width];
    if (typeof page !== 'string') return false;
    deps.stdout.write(page);
    return true;
  } catch {
    return false; // not built by npm run build: drawn from the declarations
  }
}

export async function main(argv: string[], deps: Deps): Promise<number> {
  const verbose = argv.includes('--verbose');
  let selected: Awaited<ReturnType<typeof parseArgs>>;
  try {
    if (versionOnly(argv, deps) || prerenderedHelp(argv, deps)) return ExitCode.OK;
    const { parseArgs } = await import('./cli.js');
    selected = await parseArgs(argv, { stdout: (s) => deps.stdout.write(s), width: (deps.stdout as NodeJS.WriteStream).columns });
  } catch (e) {
    if (e instanceof SyncerError) return report(deps, e, verbose);
    return report(deps, new SyncerError('USAGE', (e as Error)?.message ?? String(e), { hint: 'syncer --help' }), verbose);
  }
  if (!selected) return ExitCode.OK;
  const { Runtime } = await import('./runtime.js');
  const rt = new Runtime(deps, selected.flags);
  try {
    await selected.run(rt);
    rt.out.flushSkips();
    return ExitCode.OK;
  } catch (e) {
    rt.out.flushSkips();
    if (deps.signal.aborted && !(e instanceof SyncerError && !hasKind(e, 'UNEXPECTED')))
      return report(deps, new SyncerError('INTERRUPTED', 'interrupted'), verbose);
    return report(deps, e, verbose);
  } finally {
    await rt.close().catch(() => undefined);
  }
}
