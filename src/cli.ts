/**
 * The command line: global flags, the commands' registration, and the one place that knows the
 * argument parser. Each command declares its own flags beside its code (`commands/<name>/command.ts`)
 * and is loaded only when chosen, so `syncer --help` never loads the etcd client or git. Parsing
 * errors are usage errors (exit 2).
 */
import yargs, { type Argv } from 'yargs';
import { usageError } from './errors.js';
import type { GlobalFlags, Runtime } from './runtime.js';
import type { Args, CommandSpec } from './commands/command.js';
import { configCommand } from './commands/config/command.js';
import { doctorCommand } from './commands/doctor/command.js';
import { etcdCommand } from './commands/etcd/command.js';
import { initCommand } from './commands/init/command.js';
import { keysCommand } from './commands/keys/command.js';
import { lsCommand } from './commands/ls/command.js';
import { mirrorCommand } from './commands/mirror/command.js';
import { operatorsCommand } from './commands/operators/command.js';
import { reindexCommand } from './commands/reindex/command.js';
import { retrieveCommand } from './commands/retrieve/command.js';
import { sourceCommand } from './commands/source/command.js';
import { syncCommand } from './commands/sync/command.js';
import { watchCommand } from './commands/watch/command.js';

const commands = [
  initCommand, syncCommand, retrieveCommand, lsCommand, configCommand, reindexCommand, watchCommand, mirrorCommand, sourceCommand,
  operatorsCommand, keysCommand, doctorCommand, etcdCommand,
];

export interface Selected {
  flags: GlobalFlags;
  /** Runs the chosen command against a runtime (built by main). */
  run: (rt: Runtime) => Promise<void>;
}

const globalFlags = {
  config: { type: 'string', describe: 'config file (default: $SYNCER_CONFIG, else the per-user store)' },
  json: { type: 'boolean', describe: 'print one JSON document on stdout' },
  input: { type: 'boolean', default: true, describe: 'prompt on a TTY (--no-input: never prompt)' },
  yes: { type: 'boolean', alias: 'y', describe: 'answer yes to confirmations' },
  'etcd-hosts': { type: 'string', describe: 'comma list of http(s)://host:port (overrides etcd.hosts)' },
  'trust-file': { type: 'string', describe: "OPERATOR SHA256:<fingerprint> lines that decide those operators' keys (overrides trustFile)" },
  namespace: { type: 'string', describe: 'registry key prefix (default syncer/)' },
  verbose: { type: 'boolean', describe: 'debug output and stack traces' },
} as const;

function argsOf(parsed: Record<string, unknown>): Args {
  const value = (name: string) => parsed[name];
  return {
    string: (name) => (value(name) === undefined || value(name) === null ? undefined : String(value(name))),
    boolean: (name) => value(name) as boolean | undefined,
    number: (name) => (value(name) === undefined ? undefined : Number(value(name))),
    list: (name) => ((value(name) as unknown[] | undefined) ?? []).map(String),
    rest: () => ((value('--') as unknown[] | undefined) ?? []).map(String),
  };
}

/** Declares one command (and its subcommands) to yargs; choosing it hands its run to `select`. */
function register(parser: Argv, spec: CommandSpec<never>, select: (run: Selected['run']) => void): Argv {
  const builder = (y: Argv) => {
    for (const [name, p] of Object.entries(spec.positionals ?? {})) y.positional(name, { type: 'string', ...p });
    for (const [name, f] of Object.entries(spec.flags ?? {})) {
      const { required, ...rest } = f;
      y.option(name, { ...rest, ...(required ? { demandOption: true } : {}) } as never);
    }
    for (const example of spec.examples ?? []) y.example(example, '');
    for (const sub of spec.subcommands ?? []) register(y, sub, select);
    return spec.missingSubcommand ? y.demandCommand(1, spec.missingSubcommand) : y;
  };
  return parser.command(spec.usage, spec.describe, builder, (parsed) => {
    if (!spec.load) return;
    const options = spec.options?.(argsOf(parsed)) as never;
    const load = spec.load;
    select(async (rt) => (await load())(rt, options));
  });
}

/**
 * A flag given without its value (`mirror --to`, `retrieve --into`) parses as "", which a path
 * would then take as the working directory: refuse it, naming the flag.
 */
function refuseEmptyValues(argv: string[], parsed: Record<string, unknown>): void {
  const given = new Set(argv.filter((t) => t.startsWith('--')).map((t) => t.slice(2).split('=')[0]!));
  for (const [key, value] of Object.entries(parsed)) {
    if (!given.has(key)) continue;
    const empty = value === '' || (Array.isArray(value) && (value.length === 0 || value.some((v) => v === '')));
    if (empty) throw usageError(`--${key} needs a value`, `syncer <command> --help shows what --${key} takes`);
  }
}

function buildParser(argv: string[], width: number | undefined, select: (run: Selected['run']) => void): Argv {
  let parser: Argv = yargs(argv)
    .scriptName('syncer')
    .usage('$0 <command> [options]\n\nDecentralised data sharing: git remotes hold the data, an etcd registry says who has what.');
  for (const [name, f] of Object.entries(globalFlags)) parser = parser.option(name, { ...f, global: true });
  for (const spec of commands) parser = register(parser, spec, select);
  return parser
    .parserConfiguration({ 'populate--': true })
    .demandCommand(1, 'name a command (syncer --help lists them)')
    .strict()
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(width ?? 100, 110))
    .exitProcess(false)
    .fail((msg, err) => {
      // One line: yargs puts the detail ("Argument: action, Given: ..., Choices: ...") on the next ones.
      const line = msg.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
      throw err ?? usageError(line, 'syncer --help lists the commands; syncer <command> --help their flags');
    });
}

export async function parseArgs(argv: string[], io: { stdout: (s: string) => void; width?: number }): Promise<Selected | undefined> {
  let selected: Selected['run'] | undefined;
  let helpShown = false;
  const parsed = await buildParser(argv, io.width, (run) => (selected = run)).parseAsync(argv, {}, (_err, _argv, output) => {
    if (!output) return;
    helpShown = true;
    // `--version --json` is data for scripts: one JSON document, as every --json output.
    const version = argv.includes('--version') && argv.includes('--json') && /^\d+\.\d+\.\d+\S*$/.test(output.trim());
    io.stdout((version ? JSON.stringify({ version: output.trim() }) : output) + '\n');
  });
  if (helpShown && !selected) return undefined;
  refuseEmptyValues(argv, parsed as Record<string, unknown>);
  const a = argsOf(parsed as Record<string, unknown>);
  const flags: GlobalFlags = {
    config: a.string('config'),
    json: a.boolean('json'),
    input: a.boolean('input'),
    yes: a.boolean('yes'),
    etcdHosts: a.string('etcd-hosts'),
    trustFile: a.string('trust-file'),
    namespace: a.string('namespace'),
    verbose: a.boolean('verbose'),
  };
  return selected ? { flags, run: selected } : undefined;
}
