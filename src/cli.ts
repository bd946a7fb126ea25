/**
 * Flag declarations only. Each command is imported lazily when chosen, so `syncer --help` never
 * loads the etcd client or git. Parsing errors are usage errors (exit 2).
 */
import yargs, { type Argv } from 'yargs';
import { usageError } from './errors.js';
import type { GlobalFlags } from './runtime.js';

export interface Selected {
  flags: GlobalFlags;
  /** Runs the chosen command against a runtime (built by main). */
  run: (rt: import('./runtime.js').Runtime) => Promise<void>;
}

const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));

const trustOptions = {
  'allow-unsigned': { type: 'boolean', describe: 'accept advertisements without a signature (signed ones are still verified)' },
  'accept-key': { type: 'boolean', describe: 'trust an operator key that changed without a signed rotation, and pin it' },
} as const;
const trust = (a: Record<string, unknown>) => ({ allowUnsigned: a['allow-unsigned'] as boolean | undefined, acceptKey: a['accept-key'] as boolean | undefined });

export async function parseArgs(argv: string[], io: { stdout: (s: string) => void; width?: number }): Promise<Selected | undefined> {
  let selected: Selected['run'] | undefined;
  const parser: Argv = yargs(argv)
    .scriptName('syncer')
    .usage('$0 <command> [options]\n\nDecentralised data sharing: git remotes hold the data, an etcd registry says who has what.')
    .option('config', { type: 'string', describe: 'config file (default: $SYNCER_CONFIG, else the per-user store)', global: true })
    .option('json', { type: 'boolean', describe: 'print one JSON document on stdout', global: true })
    .option('input', { type: 'boolean', default: true, describe: 'prompt on a TTY (--no-input: never prompt)', global: true })
    .option('yes', { alias: 'y', type: 'boolean', describe: 'answer yes to confirmations', global: true })
    .option('etcd-hosts', { type: 'string', describe: 'comma list of http(s)://host:port (overrides etcd.hosts)', global: true })
    .option('namespace', { type: 'string', describe: 'registry key prefix (default syncer/)', global: true })
    .option('verbose', { type: 'boolean', describe: 'debug output and stack traces', global: true })
    .command('init', 'set up the config (checks repo, remote and etcd before writing)', (y) =>
      y
        .option('operator', { type: 'string', describe: 'your operator name' })
        .option('repo', { type: 'string', describe: 'local git repository holding your data' })
        .option('remote', { type: 'string', describe: 'git remote to push to (default origin)' })
        .option('remote-url', { type: 'string', describe: 'URL peers clone from, if not the push URL' })
        .option('import-dir', { type: 'string', describe: 'where retrieved data goes' })
        .option('embedded', { type: 'boolean', describe: 'use the embedded local etcd (local only)' })
        .example('$0 init --operator lab-a --repo ~/data --import-dir ~/imports --embedded', ''),
      (a) => {
        selected = async (rt) => (await import('./commands/init/index.js')).run(rt, { operator: str(a.operator), repo: str(a.repo), remote: str(a.remote), remoteUrl: str(a['remote-url']), importDir: str(a['import-dir']), embedded: a.embedded as boolean | undefined });
      },
    )
    .command('sync', 'commit, tag, push and advertise a hub\'s dataset', (y) =>
      y
        .option('hub', { type: 'string', describe: 'what the dataset is about' })
        .option('path', { type: 'string', describe: 'dataset directory in the repo (default <hub>/)' })
        .option('message', { alias: 'm', type: 'string', describe: 'commit message (default "sync <hub> <date>")' })
        .example('$0 sync --hub weather', ''),
      (a) => {
        selected = async (rt) => (await import('./commands/sync/index.js')).run(rt, { hub: str(a.hub), path: str(a.path), message: str(a.message) });
      },
    )
    .command('retrieve', 'check out an advertised dataset', (y) =>
      y
        .option('hub', { type: 'string' })
        .option('date', { type: 'string', describe: 'YYYY-MM-DD or latest' })
        .option('operator', { type: 'string', describe: 'whose dataset (never defaults to you)' })
        .option('into', { type: 'string', describe: 'target directory (default <importDir>/<hub>/<date>/<operator>)' })
        .option('force', { type: 'boolean', describe: 'overwrite local modifications or a foreign target' })
        .options(trustOptions)
        .example('$0 retrieve --hub weather --date latest --operator lab-a', ''),
      (a) => {
        selected = async (rt) =>
          (await import('./commands/retrieve/index.js')).run(rt, {
            hub: str(a.hub), date: str(a.date), operator: str(a.operator), into: str(a.into), force: a.force as boolean | undefined, ...trust(a),
          });
      },
    )
    .command('ls [hub] [date]', 'list hubs, a hub\'s dates, or one date\'s datasets', (y) =>
      y
        .positional('hub', { type: 'string' })
        .positional('date', { type: 'string' })
        .option('all', { type: 'boolean', describe: 'also show syncs in progress (marked)' })
        .options(trustOptions)
        .example('$0 ls weather 2026-11-22 --json', ''),
      (a) => {
        selected = async (rt) => (await import('./commands/ls/index.js')).run(rt, { hub: str(a.hub), date: str(a.date), all: a.all as boolean | undefined, ...trust(a) });
      },
    )
    .command('config <action> [key] [value]', 'config path | get KEY | set KEY VALUE | unset KEY | list', (y) =>
      y.positional('action', { choices: ['path', 'get', 'set', 'unset', 'list'] as const }).positional('key', { type: 'string' }).positional('value', { type: 'string' }),
      (a) => {
        selected = async (rt) => (await import('./commands/config/index.js')).run(rt, { action: a.action as never, key: str(a.key), value: str(a.value) });
      },
    )
    .command('reindex', 'rebuild the registry from the operators\' git remotes', (y) =>
      y
        .option('remote', { type: 'string', array: true, describe: 'OPERATOR=URL to read (repeatable), besides the registered operators' })
        .option('remotes-file', { type: 'string', describe: 'file with one "operator url" a line' })
        .option('prune', { type: 'boolean', describe: 'remove advertisements whose tag is gone (only for remotes read completely)' })
        .option('dry-run', { type: 'boolean', describe: 'show the plan, write nothing' })
        .options(trustOptions)
        .example('$0 reindex --remotes-file remotes.txt --dry-run', ''),
      (a) => {
        selected = async (rt) =>
          (await import('./commands/reindex/index.js')).run(rt, {
            remotes: ((a.remote as string[] | undefined) ?? []).map(String), remotesFile: str(a['remotes-file']), prune: a.prune as boolean | undefined, dryRun: a['dry-run'] as boolean | undefined, ...trust(a),
          });
      },
    )
    .command('watch', 'follow the registry: one NDJSON event per new, replaced or removed advertisement', (y) =>
      y
        .option('hub', { type: 'string', array: true, describe: 'only these hubs (repeatable)' })
        .option('operator', { type: 'string', array: true, describe: 'only these operators (repeatable)' })
        .option('from-start', { type: 'boolean', describe: 'replay what exists before following (first start only)' })
        .option('state', { type: 'string', describe: 'file keeping the position (default: per-user data dir)' })
        .option('retrieve', { type: 'boolean', describe: 'retrieve each new dataset into the import dir' })
        .option('exec', { type: 'boolean', describe: 'run the command after `--` for each event (no shell; event in SYNCER_* env)' })
        .option('events-log', { type: 'string', describe: 'append every raw event (JSONL) to this file' })
        .option('replay', { type: 'string', describe: 'run the actions again over an events log, then exit' })
        .option('group', { type: 'string', describe: 'watchers with the same group elect one leader; only it acts' })
        .options(trustOptions)
        .example('$0 watch --hub weather --retrieve --exec -- ./on-new-data.sh', ''),
      (a) => {
        const rest = ((a['--'] as unknown[] | undefined) ?? []).map(String);
        if (a.exec && rest.length === 0) throw usageError('--exec needs a command after `--`', 'syncer watch --exec -- CMD [ARGS...]');
        if (!a.exec && rest.length > 0) throw usageError(`unexpected arguments after --: ${rest.join(' ')}`, 'did you mean --exec -- CMD?');
        selected = async (rt) =>
          (await import('./commands/watch/index.js')).run(rt, {
            hubs: ((a.hub as string[] | undefined) ?? []).map(String), operators: ((a.operator as string[] | undefined) ?? []).map(String),
            fromStart: a['from-start'] as boolean | undefined, state: str(a.state), retrieve: a.retrieve as boolean | undefined, exec: a.exec ? rest : undefined,
            eventsLog: str(a['events-log']), replay: str(a.replay), group: str(a.group), ...trust(a),
          });
      },
    )
    .command('mirror', 'keep an archive (a git repository) of advertised datasets', (y) =>
      y
        .option('to', { type: 'string', demandOption: true, describe: 'archive: a local path (created if missing) or a git URL' })
        .option('hub', { type: 'string', array: true, describe: 'only these hubs (repeatable)' })
        .option('operator', { type: 'string', array: true, describe: 'only these operators (repeatable)' })
        .option('initial-sync-limit', { type: 'number', default: 28, describe: 'first run for a hub: only its newest N dates' })
        .option('in-progress-timeout', { type: 'number', default: 120, describe: 'minutes before a run still in progress is recorded as unknown' })
        .options(trustOptions)
        .example('$0 mirror --to /srv/archive.git --hub weather', ''),
      (a) => {
        selected = async (rt) =>
          (await import('./commands/mirror/index.js')).run(rt, {
            to: String(a.to), hubs: ((a.hub as string[] | undefined) ?? []).map(String), operators: ((a.operator as string[] | undefined) ?? []).map(String),
            initialSyncLimit: Number(a['initial-sync-limit']), inProgressTimeout: Number(a['in-progress-timeout']), ...trust(a),
          });
      },
    )
    .command('operators', 'registered operators, their key fingerprints and whether you pinned them', {}, () => {
      selected = async (rt) => (await import('./commands/operators/index.js')).run(rt);
    })
    .command('keys <action>', 'show | path | rotate your signing key', (y) => y.positional('action', { choices: ['show', 'path', 'rotate'] as const }), (a) => {
      selected = async (rt) => (await import('./commands/keys/index.js')).run(rt, { action: a.action as never });
    })
    .command('doctor', 'check git, config, remote and etcd; say what to fix', {}, () => {
      selected = async (rt) => (await import('./commands/doctor/index.js')).run(rt);
    })
    .command('etcd <action>', 'start | stop | status of the embedded local etcd', (y) => y.positional('action', { choices: ['start', 'stop', 'status'] as const }), (a) => {
      selected = async (rt) => (await import('./commands/etcd/index.js')).run(rt, { action: a.action as never });
    })
    .parserConfiguration({ 'populate--': true })
    .demandCommand(1, 'name a command (syncer --help lists them)')
    .strict()
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(io.width ?? 100, 110))
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? usageError(msg);
    });

  let helpShown = false;
  const parsed = await parser.parseAsync(argv, {}, (_err, _argv, output) => {
    if (output) {
      helpShown = true;
      io.stdout(output + '\n');
    }
  });
  if (helpShown && !selected) return undefined;
  const a = parsed as Record<string, unknown>;
  const flags: GlobalFlags = {
    config: str(a.config),
    json: a.json as boolean | undefined,
    input: a.input as boolean | undefined,
    yes: a.yes as boolean | undefined,
    etcdHosts: str(a['etcd-hosts']),
    namespace: str(a.namespace),
    verbose: a.verbose as boolean | undefined,
  };
  return selected ? { flags, run: selected } : undefined;
}
