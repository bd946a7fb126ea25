/**
 * The command line: global flags, finding the command, and the one place that parses arguments
 * (node:util's parseArgs: nothing to load, where yargs cost ~70 ms and commander ~17 ms, and
 * start-up is part of the product). Each command declares its own flags beside its code
 * (`commands/<name>/command.ts`) and is loaded only when chosen, so `syncer --help` never loads the
 * etcd client or git. Parsing errors are usage errors (exit 2) of one line.
 */
import { readFileSync } from 'node:fs';
import { parseArgs as parseNodeArgs } from 'node:util';
import { usageError } from './errors.js';
import type { GlobalFlags, Runtime } from './runtime.js';
import { readFlags, type CommandSpec, type FlagSpec } from './commands/command.js';
import { commandNames, loadCommand, loadCommands } from './commands/index.js';
import { argsOf, checkValues, HINT, nameOf, nodeOptions, parseError, positionalValues } from './cli/values.js';

export interface Selected {
  flags: GlobalFlags;
  /** Runs the chosen command against a runtime (built by main). */
  run: (rt: Runtime) => Promise<void>;
}

const DESCRIPTION = 'Decentralised data sharing: git remotes hold the data, an etcd registry says who has what.';
const globalFlags: Record<string, FlagSpec> = {
  config: { type: 'string', describe: 'config file (default: $SYNCER_CONFIG, else the per-user store)' },
  json: { type: 'boolean', describe: 'print one JSON document on stdout' },
  'no-input': { type: 'boolean', describe: 'never prompt (default: prompt on a TTY)' },
  yes: { type: 'boolean', alias: 'y', describe: 'answer yes to confirmations' },
  'etcd-hosts': { type: 'string', describe: 'comma list of http(s)://host:port (overrides etcd.hosts)' },
  'trust-file': { type: 'string', describe: "OPERATOR SHA256:<fingerprint> lines that decide those operators' keys (overrides trustFile)" },
  namespace: { type: 'string', describe: 'registry key prefix (default syncer/)' },
  verbose: { type: 'boolean', describe: 'debug output and stack traces' },
};
const parserFlags: Record<string, FlagSpec> = { help: { type: 'boolean', alias: 'h' }, version: { type: 'boolean' } };

/** `syncer --help` at `width` (at most 110), drawn from every command's declaration. */
export async function rootHelpPage(width: number): Promise<string> {
  const { rootHelp } = await import('./cli/help.js');
  return rootHelp(DESCRIPTION, await loadCommands(), globalFlags, width);
}

/** The width help is drawn at: the terminal's columns (100 when not a terminal), at most 110. */
export const helpWidth = (columns: number | undefined) => Math.min(columns ?? 100, 110);

const takesValue = (flags: Record<string, FlagSpec>, token: string) => {
  const name = token.startsWith('--') ? token.slice(2) : Object.keys(flags).find((n) => flags[n]!.alias === token.slice(1));
  return !token.includes('=') && !!name && flags[name] !== undefined && flags[name]!.type !== 'boolean';
};

/** The command (and subcommand) words in `argv`: the first words that are not flags or their values. */
async function findCommand(argv: string[]): Promise<{ path: CommandSpec<never>[]; words: number[]; unknown?: string }> {
  const path: CommandSpec<never>[] = [];
  const words: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const parent = path.at(-1);
    if (parent && !parent.subcommands) break;
    if (token.startsWith('-')) {
      if (takesValue({ ...globalFlags, ...parent?.flags }, token)) i++;
      continue;
    }
    const spec = parent ? parent.subcommands!.find((c) => nameOf(c) === token) : await loadCommand(token);
    if (!spec) return { path, words, unknown: token };
    path.push(spec);
    words.push(i);
  }
  return { path, words };
}

export async function parseArgs(argv: string[], io: { stdout: (s: string) => void; width?: number }): Promise<Selected | undefined> {
  // The words after `--` belong to `watch --exec`, not to the parser.
  const dashes = argv.indexOf('--');
  const rest = dashes < 0 ? [] : argv.slice(dashes + 1);
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  const { path, words, unknown } = await findCommand(own);
  const spec = path.at(-1);
  const flags = { ...globalFlags, ...parserFlags, ...spec?.flags };
  let parsed: ReturnType<typeof parseNodeArgs>;
  try {
    parsed = parseNodeArgs({ args: own.filter((_, i) => !words.includes(i)), options: nodeOptions(flags), allowPositionals: true, strict: true });
  } catch (e) {
    throw parseError(e as Error);
  }
  const values = parsed.values as Record<string, unknown>;
  const width = helpWidth(io.width);
  if (values.help) {
    const { commandHelp } = await import('./cli/help.js');
    io.stdout(spec ? commandHelp(path.map(nameOf).join(' '), spec, globalFlags, width) : await rootHelpPage(width));
    return undefined;
  }
  if (values.version && !spec) {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    io.stdout(values.json ? `${JSON.stringify({ version })}\n` : `${version}\n`);
    return undefined;
  }
  if (unknown) {
    const { closest } = await import('./core/closest.js');
    const within = spec ? `${nameOf(spec)} subcommand` : 'command';
    const lists = `syncer ${spec ? `${nameOf(spec)} ` : ''}--help lists them`;
    throw usageError(`unknown ${within} '${unknown}'${closest(unknown, spec?.subcommands?.map(nameOf) ?? commandNames)}`, lists);
  }
  if (!spec) throw usageError('name a command (syncer --help lists them)', HINT);
  if (spec.subcommands) throw usageError(spec.missingSubcommand ?? `name a ${nameOf(spec)} subcommand`, `syncer ${nameOf(spec)} --help lists them`);
  checkValues(values, { ...globalFlags, ...spec.flags });
  positionalValues(spec, parsed.positionals, values);
  const options = spec.options?.(argsOf(values, rest)) as never;
  const global = { ...readFlags(argsOf(values, rest), globalFlags), input: values['no-input'] ? false : undefined } as GlobalFlags;
  const load = spec.load!;
  return { flags: global, run: async (rt) => (await load())(rt, options) };
}
