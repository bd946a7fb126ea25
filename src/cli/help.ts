/**
 * The help pages, drawn from the commands' declarations: `syncer --help` lists the commands,
 * `syncer <command> --help` a command's arguments, flags and examples, then the global flags.
 */
import type { CommandSpec, FlagSpec } from '../commands/command.js';

/** Two columns: the term, then its description wrapped to the width. */
function columns(rows: [string, string][], width: number): string[] {
  const left = Math.min(Math.max(...rows.map(([t]) => t.length), 0) + 2, 34);
  const room = Math.max(30, width - left - 2);
  const lines: string[] = [];
  for (const [term, text] of rows) {
    const words = text.split(' ');
    const wrapped: string[] = [];
    let line = '';
    for (const word of words) {
      if (line && line.length + word.length + 1 > room) {
        wrapped.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    wrapped.push(line);
    const indent = `  ${''.padEnd(left)}`;
    // A term too long for its column gets a line of its own.
    if (term.length + 2 > left) lines.push(`  ${term}`);
    const head = term.length + 2 > left ? indent : `  ${term.padEnd(left)}`;
    lines.push(`${head}${wrapped[0]}`.trimEnd(), ...wrapped.slice(1).map((w) => `${indent}${w}`));
  }
  return lines;
}

function flagTerm(name: string, f: FlagSpec): string {
  const value = f.type === 'boolean' ? '' : f.type === 'number' ? ' <n>' : ' <value>';
  return `${f.alias ? `-${f.alias}, ` : ''}--${name}${value}${f.array ? ' (repeatable)' : ''}`;
}

function flagText(f: FlagSpec): string {
  const extra = [f.choices ? `one of: ${f.choices.join(', ')}` : '', f.default !== undefined ? `default: ${f.default}` : '', f.required ? 'required' : ''];
  const notes = extra.filter(Boolean).join('; ');
  return `${f.describe ?? ''}${notes ? ` (${notes})` : ''}`.trim();
}

const flagRows = (flags: Record<string, FlagSpec>) => Object.entries(flags).map(([n, f]): [string, string] => [flagTerm(n, f), flagText(f)]);

/** `syncer --help`. */
export function rootHelp(description: string, commands: readonly CommandSpec<never>[], globals: Record<string, FlagSpec>, width: number): string {
  return [
    'Usage: syncer <command> [options]',
    '',
    description,
    '',
    'Commands:',
    ...columns(
      commands.map((c) => [c.usage, c.describe]),
      width,
    ),
    '',
    'Global options:',
    ...columns([...flagRows(globals), ['-h, --help', 'show help'], ['--version', 'show the version']], width),
    '',
    "syncer <command> --help shows a command's own options.",
    '',
  ].join('\n');
}

/** `syncer <command> [<subcommand>] --help`. */
export function commandHelp(path: string, spec: CommandSpec<never>, globals: Record<string, FlagSpec>, width: number): string {
  const [, ...positionals] = spec.usage.split(' ');
  const out = [
    `Usage: syncer ${path}${spec.subcommands ? ' <subcommand>' : ''}${spec.flags ? ' [options]' : ''}${positionals.length ? ` ${positionals.join(' ')}` : ''}`,
    '',
    spec.describe,
    '',
  ];
  if (spec.subcommands)
    out.push(
      'Subcommands:',
      ...columns(
        spec.subcommands.map((s) => [s.usage, s.describe]),
        width,
      ),
      '',
    );
  const args = Object.entries(spec.positionals ?? {}).map(([n, p]): [string, string] => [
    n,
    `${p.describe ?? ''}${p.choices ? ` (one of: ${p.choices.join(', ')})` : ''}`.trim(),
  ]);
  if (args.length) out.push('Arguments:', ...columns(args, width), '');
  if (spec.flags) out.push('Options:', ...columns(flagRows(spec.flags), width), '');
  out.push('Global options:', ...columns([...flagRows(globals), ['-h, --help', 'show help']], width), '');
  if (spec.examples?.length) out.push('Examples:', ...spec.examples.map((e) => `  ${e.replace('$0', 'syncer')}`), '');
  return out.join('\n');
}
