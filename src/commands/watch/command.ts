import { usageError } from '../../errors.js';
import { defineCommand, type Args } from '../command.js';
import { trustFlags, trustOptions } from '../trust-flags.js';
import type { WatchOptions } from './index.js';

/** The command after `--` is for --exec only: one without the other is a usage error. */
function execCommand(a: Args): string[] | undefined {
  const rest = a.rest();
  if (a.boolean('exec') && rest.length === 0) throw usageError('--exec needs a command after `--`', 'syncer watch --exec -- CMD [ARGS...]');
  if (!a.boolean('exec') && rest.length > 0) throw usageError(`unexpected arguments after --: ${rest.join(' ')}`, 'did you mean --exec -- CMD?');
  return a.boolean('exec') ? rest : undefined;
}

export const watchCommand = defineCommand<WatchOptions>({
  usage: 'watch',
  describe: 'follow the registry: one NDJSON event per new, replaced or removed advertisement',
  flags: {
    hub: { type: 'string', array: true, describe: 'only these hubs (repeatable)' },
    operator: { type: 'string', array: true, describe: 'only these operators (repeatable)' },
    'from-start': { type: 'boolean', describe: 'replay what exists before following (first start only)' },
    state: { type: 'string', describe: 'file keeping the position (default: per-user data dir)' },
    retrieve: { type: 'boolean', describe: 'retrieve each new dataset into the import dir' },
    exec: { type: 'boolean', describe: 'run the command after `--` for each event (no shell; event in SYNCER_* env)' },
    'events-log': { type: 'string', describe: 'append every raw event (JSONL) to this file' },
    replay: { type: 'string', describe: 'run the actions again over an events log, then exit' },
    group: { type: 'string', describe: 'watchers with the same group elect one leader; only it acts' },
    ...trustFlags,
  },
  examples: ['$0 watch --hub weather --retrieve --exec -- ./on-new-data.sh'],
  options: (a) => ({
    hubs: a.list('hub'),
    operators: a.list('operator'),
    fromStart: a.boolean('from-start'),
    state: a.string('state'),
    retrieve: a.boolean('retrieve'),
    exec: execCommand(a),
    eventsLog: a.string('events-log'),
    replay: a.string('replay'),
    group: a.string('group'),
    ...trustOptions(a),
  }),
  load: async () => (await import('./index.js')).run,
});
