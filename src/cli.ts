/**
 * The command line: global flags, the commands' registration, and the one place that knows the
 * argument parser (commander: it loads in ~15 ms, where yargs took ~70 and start-up is part of the
 * product). Each command declares its own flags beside its code (`commands/<name>/command.ts`) and
 * is loaded only when chosen, so `syncer --help` never loads the etcd client or git. Parsing errors
 * are usage errors (exit 2) of one line.
 */
import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, Option } from 'commander';
import { usageError } from './errors.js';
import type { GlobalFlags, Runtime } from './runtime.js';
import { camelCase, readFlags, type Args, type CommandSpec, type FlagSpec } from './commands/command.js';
import { commands } from './commands/index.js';

export interface Selected {
  flags: GlobalFlags;
  /** Runs the chosen command against a runtime (built by main). */
  run: (rt: Runtime) => Promise<void>;
}

const globalFlags: Record<string, FlagSpec> = {
  config: { type: 'string', describe: 'config file (default: $SYNCER_CONFIG, else the per-user store)' },
  json: { type: 'boolean', describe: 'print one JSON document on stdout' },
  yes: { type: 'boolean', alias: 'y', describe: 'answer yes to confirmations' },
  'etcd-hosts': { type: 'string', describe: 'comma list of http(s)://host:port (overrides etcd.hosts)' },
  'trust-file': { type: 'string', describe: "OPERATOR SHA256:<fingerprint> lines that decide those operators' keys (overrides trustFile)" },
  namespace: { type: 'string', describe: 'registry key prefix (default syncer/)' },
  verbose: { type: 'boolean', describe: 'debug output and stack traces' },
};
const HINT = 'syncer --help lists the commands; syncer <command> --help their flags';

function optionOf(name: string, f: FlagSpec): Option {
  const value = f.type === 'boolean' ? '' : f.array ? ` <${name}...>` : f.type === 'number' ? ' <n>' : ' <value>';
  const option = new Option(`${f.alias ? `-${f.alias}, ` : ''}--${name}${value}`, f.describe ?? '');
  if (f.choices) option.choices(f.choices);
  if (f.default !== undefined) option.default(f.default);
  if (f.type === 'number') option.argParser(Number);
  if (f.required) option.makeOptionMandatory();
  return option;
}

function argsOf(values: Record<string, unknown>, rest: string[]): Args {
  const value = (name: string) => values[camelCase(name)];
  return {
    string: (name) => (value(name) === undefined || value(name) === null ? undefined : String(value(name))),
    boolean: (name) => value(name) as boolean | undefined,
    number: (name) => (value(name) === undefined ? undefined : Number(value(name))),
    list: (name) => ((value(name) as unknown[] | undefined) ?? []).map(String),
    rest: () => rest,
  };
}

/**
 * A flag given an empty value (`--into=`, `--to ''`) would be taken by a path as the working
 * directory, and one followed by another flag would take that flag as its value: refuse both,
 * naming the flag.
 */
function refuseEmptyValues(values: Record<string, unknown>, flags: Record<string, FlagSpec>): void {
  // `--from-mirror --dry-run`: the parser would take the next flag as the value.
  const missing = (v: unknown) => v === '' || (typeof v === 'string' && /^--?[\w-]+/.test(v) && v.replace(/^-+|=.*$/g, '') in flags);
  for (const name of Object.keys(flags)) {
    const v = values[camelCase(name)];
    if (missing(v) || (Array.isArray(v) && v.some(missing))) throw usageError(`--${name} needs a value`, `syncer <command> --help shows what --${name} takes`);
  }
}

/** Declares one command (and its subcommands); choosing it hands its run to `select`. */
function register(parent: Command, spec: CommandSpec<never>, rest: string[], select: (run: Selected['run'], cmd: Command) => void): void {
  const [name, ...positionals] = spec.usage.split(' ');
  const cmd = parent.command(name!).description(spec.describe);
  for (const usage of positionals) {
    const p = spec.positionals?.[usage.slice(1, -1)] ?? {};
    const argument = new Argument(usage, p.describe);
    if (p.choices) argument.choices(p.choices);
    if (p.default !== undefined) argument.default(p.default);
    cmd.addArgument(argument);
  }
  for (const [flag, f] of Object.entries(spec.flags ?? {})) cmd.addOption(optionOf(flag, f));
  if (spec.examples?.length) cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  ${e.replace('$0', 'syncer')}`).join('\n')}`);
  for (const sub of spec.subcommands ?? []) register(cmd, sub, rest, select);
  if (spec.subcommands) {
    cmd.allowExcessArguments().action((_options, c: Command) => {
      if (c.args.length) throw usageError(`unknown ${name} subcommand: ${c.args[0]}`, `syncer ${name} --help lists them`);
      throw usageError(spec.missingSubcommand ?? `name a ${name} subcommand`, `syncer ${name} --help lists them`);
    });
    return;
  }
  cmd.action((...params: unknown[]) => {
    const c = params[params.length - 1] as Command;
    const values: Record<string, unknown> = { ...c.optsWithGlobals() };
    positionals.forEach((usage, i) => (values[camelCase(usage.slice(1, -1))] = params[i]));
    refuseEmptyValues(values, { ...globalFlags, ...spec.flags });
    const options = spec.options?.(argsOf(values, rest)) as never;
    const load = spec.load!;
    select(async (rt) => (await load())(rt, options), c);
  });
}

function program(io: { stdout: (s: string) => void; width?: number }, rest: string[], select: (run: Selected['run'], cmd: Command) => void): Command {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const root = new Command('syncer')
    .usage('<command> [options]')
    .description('Decentralised data sharing: git remotes hold the data, an etcd registry says who has what.')
    .version(version, '--version', 'show the version')
    .helpOption('-h, --help', 'show help')
    .configureHelp({ showGlobalOptions: true, helpWidth: Math.min(io.width ?? 100, 110) })
    .configureOutput({ writeOut: io.stdout, writeErr: () => undefined })
    .exitOverride();
  for (const [name, f] of Object.entries(globalFlags)) root.addOption(optionOf(name, f));
  root.addOption(new Option('--no-input', 'never prompt (default: prompt on a TTY)'));
  for (const spec of commands) register(root, spec, rest, select);
  return root;
}

/** commander's own failures as one usage line; help and --version are not failures. */
function translate(e: CommanderError): undefined {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return undefined;
  if (e.code === 'commander.help') throw usageError('name a command (syncer --help lists them)', HINT);
  const flag = e.code === 'commander.optionMissingArgument' ? /'(?:-\w, )?--([\w-]+)/.exec(e.message)?.[1] : undefined;
  if (flag) throw usageError(`--${flag} needs a value`, `syncer <command> --help shows what --${flag} takes`);
  const line = e.message.replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
  throw usageError(line, HINT);
}

export async function parseArgs(argv: string[], io: { stdout: (s: string) => void; width?: number }): Promise<Selected | undefined> {
  // The words after `--` belong to `watch --exec`, not to the parser.
  const dashes = argv.indexOf('--');
  const rest = dashes < 0 ? [] : argv.slice(dashes + 1);
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  // `--version --json` is data for scripts: one JSON document, as every --json output.
  const json = own.includes('--json');
  const version = (s: string) => json && own.includes('--version') && /^\d+\.\d+\.\d+\S*\n?$/.test(s);
  const out = (s: string) => io.stdout(version(s) ? `${JSON.stringify({ version: s.trim() })}\n` : s.endsWith('\n') ? s : `${s}\n`);
  let selected: Selected | undefined;
  const root = program({ ...io, stdout: out }, rest, (run, cmd) => {
    const values = cmd.optsWithGlobals();
    const flags = { ...readFlags(argsOf(values, rest), globalFlags), input: values.input as boolean } as GlobalFlags;
    selected = { flags, run };
  });
  try {
    await root.parseAsync(own, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return translate(e);
    throw e;
  }
  return selected;
}
