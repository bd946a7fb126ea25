/**
 * From node's parse to a command's values: its flags' types, defaults and choices, its positionals,
 * and node's parse errors in our words. Every refusal is a usage error (exit 2) of one line.
 */
import type { ParseArgsConfig } from 'node:util';
import { usageError } from '../errors.js';
import { camelCase, type Args, type CommandSpec, type FlagSpec } from '../commands/command.js';

export const HINT = 'syncer --help lists the commands; syncer <command> --help their flags';
export const nameOf = (spec: CommandSpec<never>) => spec.usage.split(' ')[0]!;

export function nodeOptions(flags: Record<string, FlagSpec>): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, f] of Object.entries(flags)) {
    options[name] = { type: f.type === 'boolean' ? 'boolean' : 'string', ...(f.alias ? { short: f.alias } : {}), ...(f.array ? { multiple: true } : {}) };
  }
  return options;
}

/** node's parse errors, in our words: one line naming the flag. */
export function parseError(e: Error & { code?: string }): Error {
  const flag = /'(--?[\w-]+)/.exec(e.message)?.[1];
  if (/argument missing|argument is ambiguous/.test(e.message) && flag)
    return usageError(`${flag} needs a value`, `syncer <command> --help shows what ${flag} takes`);
  if (/does not take an argument/.test(e.message) && flag) return usageError(`${flag} takes no value`, HINT);
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) return usageError(`unknown option '${flag}'`, HINT);
  return usageError(e.message.split('\n')[0]!, HINT);
}

/** Values as the command declared them: numbers, defaults, choices; empty values refused. */
export function checkValues(values: Record<string, unknown>, flags: Record<string, FlagSpec>): void {
  for (const [name, f] of Object.entries(flags)) {
    const v = values[name];
    if (v === undefined) {
      if (f.required) throw usageError(`missing --${name}`, `syncer <command> --help shows what --${name} takes`);
      if (f.default !== undefined) values[name] = f.default;
      continue;
    }
    // A flag given an empty value (`--into=`, `--to ''`) would be taken by a path as the working directory.
    if (v === '' || (Array.isArray(v) && v.includes(''))) throw usageError(`--${name} needs a value`, `syncer <command> --help shows what --${name} takes`);
    for (const one of Array.isArray(v) ? v : [v]) {
      if (f.choices && !f.choices.includes(String(one)))
        throw usageError(`value '${one}' is invalid for option '--${name}'. Allowed choices are ${f.choices.join(', ')}.`, HINT);
    }
    if (f.type === 'number') values[name] = Number(v);
  }
}

export function positionalValues(spec: CommandSpec<never>, given: string[], values: Record<string, unknown>): void {
  const usage = spec.usage.split(' ').slice(1);
  if (given.length > usage.length) throw usageError(`too many arguments for '${nameOf(spec)}': expected at most ${usage.length}, got ${given.length}`, HINT);
  usage.forEach((u, i) => {
    const name = u.slice(1, -1);
    const p = spec.positionals?.[name] ?? {};
    const v = given[i] ?? p.default;
    if (v === undefined && u.startsWith('<')) throw usageError(`missing argument '${name}'`, `syncer ${nameOf(spec)} --help`);
    if (v !== undefined && p.choices && !p.choices.includes(v))
      throw usageError(`value '${v}' is invalid for argument '${name}'. Allowed choices are ${p.choices.join(', ')}.`, HINT);
    values[camelCase(name)] = v;
  });
}

export function argsOf(values: Record<string, unknown>, rest: string[]): Args {
  const value = (name: string) => values[name] ?? values[camelCase(name)];
  return {
    string: (name) => (value(name) === undefined ? undefined : String(value(name))),
    boolean: (name) => value(name) as boolean | undefined,
    number: (name) => (value(name) === undefined ? undefined : Number(value(name))),
    list: (name) => ((value(name) as unknown[] | undefined) ?? []).map(String),
    rest: () => rest,
  };
}
