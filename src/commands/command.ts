/**
 * What a command declares about itself, beside its code (`src/commands/<name>/command.ts`): its
 * usage, flags and examples, how the parsed arguments become its typed options, and how its run
 * function is loaded. Declaring loads nothing heavy: `load` imports the command's code only when
 * it is chosen, so `syncer --help` never loads etcd or git. Only src/cli.ts knows the argument
 * parser; commands see their arguments through `Args`.
 */
import type { Runtime } from '../runtime.js';

export interface FlagSpec {
  type: 'string' | 'boolean' | 'number';
  describe?: string;
  /** Repeatable: the values arrive as a list. */
  array?: boolean;
  choices?: readonly string[];
  default?: string | number | boolean;
  alias?: string;
  required?: boolean;
}

export interface PositionalSpec {
  describe?: string;
  choices?: readonly string[];
  default?: string;
}

/** The parsed command line, read by name. */
export interface Args {
  string(name: string): string | undefined;
  boolean(name: string): boolean | undefined;
  number(name: string): number | undefined;
  /** A repeatable flag's values (empty when not given). */
  list(name: string): string[];
  /** The words after `--`. */
  rest(): string[];
}

export type RunFunction<O> = (rt: Runtime, options: O) => Promise<void>;

export interface CommandSpec<O = never> {
  /** The name and positionals, e.g. `ls [hub] [date]` or `keys <action>`. */
  usage: string;
  describe: string;
  positionals?: Record<string, PositionalSpec>;
  flags?: Record<string, FlagSpec>;
  examples?: readonly string[];
  /** Maps the arguments to the run function's options; throws a usage error for a bad combination. */
  options?: (args: Args) => O;
  load?: () => Promise<RunFunction<O>>;
  subcommands?: readonly CommandSpec<never>[];
  /** The message when a command with subcommands is given none. */
  missingSubcommand?: string;
}

/** Keeps the options type of a command's spec checked against its run function. */
export function defineCommand<O>(spec: CommandSpec<O>): CommandSpec<never> {
  return spec as unknown as CommandSpec<never>;
}

/** `--records-path` -> `recordsPath`: options are named as their flags, in camel case. */
export const camelCase = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Every flag of `flags` read from `args` by its type, keyed by its camel-case name. */
export function readFlags(args: Args, flags: Record<string, FlagSpec>): Record<string, string | number | boolean | string[] | undefined> {
  const read = (name: string, spec: FlagSpec) =>
    spec.array ? args.list(name) : spec.type === 'boolean' ? args.boolean(name) : spec.type === 'number' ? args.number(name) : args.string(name);
  return Object.fromEntries(Object.entries(flags).map(([name, spec]) => [camelCase(name), read(name, spec)]));
}
