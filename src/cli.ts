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
    .option('trust-file', { type: 'string', describe: 'OPERATOR SHA256:<fingerprint> lines that decide those operators\' keys (overrides trustFile)', global: true })
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
        .option('allow-symlinks', { type: 'boolean', describe: 'take a dataset whose symbolic links lead out of it (refused by default)' })
        .option('allow-older', { type: 'boolean', describe: 'update a checkout to an older advertisement of the same hub/date/operator (refused by default)' })
        .options(trustOptions)
        .example('$0 retrieve --hub weather --date latest --operator lab-a', ''),
      (a) => {
        selected = async (rt) =>
          (await import('./commands/retrieve/index.js')).run(rt, {
            hub: str(a.hub), date: str(a.date), operator: str(a.operator), into: str(a.into), force: a.force as boolean | undefined,
            allowSymlinks: a['allow-symlinks'] as boolean | undefined, allowOlder: a['allow-older'] as boolean | undefined, ...trust(a),
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
        .option('from-mirror', { type: 'string', describe: 'rebuild from an archive made by syncer mirror (path or URL): entries then point at the archive' })
        .options(trustOptions)
        .example('$0 reindex --remotes-file remotes.txt --dry-run', '')
        .example('$0 reindex --from-mirror /srv/archive.git', ''),
      (a) => {
        selected = async (rt) =>
          (await import('./commands/reindex/index.js')).run(rt, {
            remotes: ((a.remote as string[] | undefined) ?? []).map(String), remotesFile: str(a['remotes-file']), prune: a.prune as boolean | undefined, dryRun: a['dry-run'] as boolean | undefined,
            fromMirror: str(a['from-mirror']), ...trust(a),
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
        .option('allow-symlinks', { type: 'boolean', describe: 'archive datasets whose symbolic links lead out of them (refused by default)' })
        .options(trustOptions)
        .example('$0 mirror --to /srv/archive.git --hub weather', ''),
      (a) => {
        selected = async (rt) =>
          (await import('./commands/mirror/index.js')).run(rt, {
            to: String(a.to), hubs: ((a.hub as string[] | undefined) ?? []).map(String), operators: ((a.operator as string[] | undefined) ?? []).map(String),
            initialSyncLimit: Number(a['initial-sync-limit']), inProgressTimeout: Number(a['in-progress-timeout']),
            allowSymlinks: a['allow-symlinks'] as boolean | undefined, ...trust(a),
          });
      },
    )
    .command('source', 'data sources feeding a hub: add | list | remove | pull | push (CSV, HTTP APIs, PostgreSQL)', (y) => {
      const num = (v: unknown) => (v === undefined ? undefined : Number(v));
      const pick = (a: Record<string, unknown>) => ({
        hub: str(a.hub), type: str(a.type), idField: str(a['id-field']), updatedField: str(a['updated-field']), into: str(a.into), format: str(a.format),
        replace: a.replace as boolean | undefined, file: str(a.file), url: str(a.url), delimiter: str(a.delimiter), quote: str(a.quote), encoding: str(a.encoding),
        recordsPath: str(a['records-path']), paging: str(a.paging), pageSize: num(a['page-size']), startParam: str(a['start-param']), limitParam: str(a['limit-param']),
        pageParam: str(a['page-param']), firstPage: num(a['first-page']), nextPath: str(a['next-path']), sinceParam: str(a['since-param']), tokenEnv: str(a['token-env']),
        retries: num(a.retries), pushUrl: str(a['push-url']), pushIdsPath: str(a['push-ids-path']), batchSize: num(a['batch-size']), passwordEnv: str(a['password-env']),
        table: str(a.table), query: str(a.query), timeoutMs: num(a['timeout-ms']),
      });
      return y
        .command('add <name>', 'define a source (stored in .syncer/sources.json, committed; never a secret)', (c) =>
          c
            .positional('name', { type: 'string', describe: 'the source\'s NAME' })
            .option('hub', { type: 'string', describe: 'hub the records go to' })
            .option('type', { type: 'string', choices: ['csv', 'http', 'postgres'], describe: 'where the records live' })
            .option('id-field', { type: 'string', describe: 'field holding the record id at the source (default id)' })
            .option('updated-field', { type: 'string', describe: 'field holding when a record changed: enables the incremental cursor' })
            .option('into', { type: 'string', describe: 'data file <hub>/<into>.ndjson (default: NAME; sources sharing a file sync two-way)' })
            .option('format', { type: 'string', choices: ['ndjson', 'csv'], describe: 'how the hub data file is stored (default ndjson)' })
            .option('replace', { type: 'boolean', describe: 'redefine an existing source' })
            .option('file', { type: 'string', describe: 'csv: local file (relative to the repository root)' })
            .option('url', { type: 'string', describe: 'csv: http(s) URL; http: API URL; postgres: postgres://user@host:port/db (no password)' })
            .option('delimiter', { type: 'string', describe: 'csv: field delimiter (default ","; "tab" for tabs)' })
            .option('quote', { type: 'string', describe: 'csv: quote character (default ")' })
            .option('encoding', { type: 'string', choices: ['utf8', 'latin1', 'utf16le'], describe: 'csv: file encoding (default utf8)' })
            .option('records-path', { type: 'string', describe: 'http: dot path to the records array in a response' })
            .option('paging', { type: 'string', choices: ['none', 'start', 'page', 'next'], describe: 'http: start/limit, page/limit, next link, or none' })
            .option('page-size', { type: 'number', describe: 'http: records per page (default 100)' })
            .option('start-param', { type: 'string', describe: 'http: offset parameter (default start)' })
            .option('limit-param', { type: 'string', describe: 'http: page size parameter (default limit)' })
            .option('page-param', { type: 'string', describe: 'http: page number parameter (default page)' })
            .option('first-page', { type: 'number', describe: 'http: number of the first page (default 1)' })
            .option('next-path', { type: 'string', describe: 'http: dot path to the next page URL (else a Link rel="next" header)' })
            .option('since-param', { type: 'string', describe: 'http: query parameter that carries the cursor' })
            .option('token-env', { type: 'string', describe: 'http: environment variable holding a bearer token' })
            .option('retries', { type: 'number', describe: 'http: retries on 429/5xx and network errors (default 4)' })
            .option('push-url', { type: 'string', describe: 'http: where push POSTs batches (default --url)' })
            .option('push-ids-path', { type: 'string', describe: 'http: dot path to the assigned ids in a push response' })
            .option('batch-size', { type: 'number', describe: 'http/postgres: records per push batch' })
            .option('password-env', { type: 'string', describe: 'postgres: environment variable holding the password (else PGPASSWORD)' })
            .option('table', { type: 'string', describe: 'postgres: table (schema.table) to read and upsert' })
            .option('query', { type: 'string', describe: 'postgres: SELECT to read from (pull only)' })
            .option('timeout-ms', { type: 'number', describe: 'deadline of one request, connection or read (default 30000)' })
            .example('$0 source add wells --hub water --type http --url https://api.example.org/wells --paging start --updated-field updatedAt', '')
            .example('$0 source add readings --hub water --type postgres --url postgres://syncer@db/water --password-env PGPASS --table readings --updated-field updated_at', ''),
          (a) => {
            selected = async (rt) => (await import('./commands/source/index.js')).run(rt, { action: 'add', name: String(a.name), ...pick(a) });
          },
        )
        .command('list', 'the defined sources, their data files and cursors', {}, () => {
          selected = async (rt) => (await import('./commands/source/index.js')).run(rt, { action: 'list' });
        })
        .command('remove <name>', 'forget a source (its records stay in the hub)', (c) => c.positional('name', { type: 'string' }), (a) => {
          selected = async (rt) => (await import('./commands/source/index.js')).run(rt, { action: 'remove', name: String(a.name) });
        })
        .command('pull <name>', 'fetch new and changed records into <hub>/<name>.ndjson and commit them with the cursor', (c) =>
          c
            .positional('name', { type: 'string' })
            .option('full', { type: 'boolean', describe: 'ignore the cursor: fetch everything' })
            .option('dry-run', { type: 'boolean', describe: 'fetch and report, write nothing' })
            .option('sync', { type: 'boolean', describe: 'publish the hub afterwards, as syncer sync does' })
            .example('$0 source pull wells --sync', ''),
          (a) => {
            selected = async (rt) => (await import('./commands/source/index.js')).run(rt, { action: 'pull', name: String(a.name), full: a.full as boolean | undefined, dryRun: a['dry-run'] as boolean | undefined, sync: a.sync as boolean | undefined });
          },
        )
        .command('push <name>', 'send records changed since the last push; commit the ids the destination assigned', (c) =>
          c.positional('name', { type: 'string' }).option('dry-run', { type: 'boolean', describe: 'count what would be sent, send nothing' }),
          (a) => {
            selected = async (rt) => (await import('./commands/source/index.js')).run(rt, { action: 'push', name: String(a.name), dryRun: a['dry-run'] as boolean | undefined });
          },
        )
        .demandCommand(1, 'name a source subcommand: add, list, remove, pull or push');
    })
    .command('operators [action] [operator] [fingerprint]', 'registered operators, their key fingerprints and whether you pinned them; pin OPERATOR FINGERPRINT pins a key you checked', (y) =>
      y.positional('action', { choices: ['list', 'pin'] as const, default: 'list' }).positional('operator', { type: 'string' }).positional('fingerprint', { type: 'string' }),
      (a) => {
        selected = async (rt) => (await import('./commands/operators/index.js')).run(rt, { action: a.action as 'list' | 'pin', operator: str(a.operator), fingerprint: str(a.fingerprint) });
      },
    )
    .command('keys <action>', 'show | path | rotate | revoke your signing key', (y) => y.positional('action', { choices: ['show', 'path', 'rotate', 'revoke'] as const }), (a) => {
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
      // One line: yargs puts the detail ("Argument: action, Given: ..., Choices: ...") on the next ones.
      throw err ?? usageError(msg.split('\n').map((l) => l.trim()).filter(Boolean).join(' '), 'syncer --help lists the commands; syncer <command> --help their flags');
    });

  let helpShown = false;
  const parsed = await parser.parseAsync(argv, {}, (_err, _argv, output) => {
    if (output) {
      helpShown = true;
      // `--version --json` is data for scripts: one JSON document, as every --json output.
      const version = argv.includes('--version') && argv.includes('--json') && /^\d+\.\d+\.\d+\S*$/.test(output.trim());
      io.stdout((version ? JSON.stringify({ version: output.trim() }) : output) + '\n');
    }
  });
  if (helpShown && !selected) return undefined;
  const a = parsed as Record<string, unknown>;
  refuseEmptyValues(argv, a);
  const flags: GlobalFlags = {
    config: str(a.config),
    json: a.json as boolean | undefined,
    input: a.input as boolean | undefined,
    yes: a.yes as boolean | undefined,
    etcdHosts: str(a['etcd-hosts']),
    trustFile: str(a['trust-file']),
    namespace: str(a.namespace),
    verbose: a.verbose as boolean | undefined,
  };
  return selected ? { flags, run: selected } : undefined;
}
