/** syncer hub create|show|propose|approve: a hub's signed charter (issue 13). */
import { defineCommand, type Args, type FlagSpec } from '../command.js';
import { usageError } from '../../errors.js';
import type { FieldFlags, HubOptions } from './index.js';

const load = async () => (await import('./index.js')).run;

const hub = { hub: { describe: 'the hub' } };

const fieldFlags: Record<string, FlagSpec> = {
  maintainer: { type: 'string', array: true, describe: 'an operator who maintains the charter (repeat for each)' },
  threshold: { type: 'number', describe: 'how many maintainers must sign a change of the charter (default 1)' },
  validator: { type: 'string', array: true, describe: "an operator whose votes decide a dataset's validity (repeat for each)" },
  'validator-threshold': { type: 'number', describe: 'how many validators must agree to accept or reject a dataset (default: all of them)' },
  'no-validators': { type: 'boolean', describe: 'propose: remove every validator (the hub becomes unreviewed)' },
  publishers: { type: 'string', choices: ['open', 'listed'], describe: 'who may publish: anyone (open, default) or the listed operators' },
  publisher: { type: 'string', array: true, describe: 'an operator who may publish (repeat; implies --publishers listed)' },
  description: { type: 'string', describe: 'what the hub is about' },
};

function fieldOptions(a: Args): FieldFlags {
  const validators = a.list('validator');
  if (a.boolean('no-validators') && validators.length) throw usageError('--no-validators and --validator contradict each other');
  return {
    maintainers: a.list('maintainer'),
    threshold: a.number('threshold'),
    validators: a.boolean('no-validators') ? [] : validators,
    clearValidators: !!a.boolean('no-validators'),
    validatorThreshold: a.number('validator-threshold'),
    publishers: a.string('publishers') as FieldFlags['publishers'],
    publisherList: a.list('publisher'),
    description: a.string('description'),
  };
}

const create = defineCommand<HubOptions>({
  usage: 'create <hub>',
  describe: 'write the first version of a hub charter (once: a hub has one charter), signed by you, one of its maintainers',
  positionals: hub,
  flags: fieldFlags,
  examples: [
    '$0 hub create weather --maintainer lab-a --maintainer lab-b --maintainer lab-c --threshold 2',
    '$0 hub create weather --maintainer lab-a --validator lab-v --publisher lab-a --publisher lab-b --description "daily readings"',
  ],
  options: (a) => ({ action: 'create', hub: a.string('hub') ?? '', fields: fieldOptions(a) }),
  load,
});

const show = defineCommand<HubOptions>({
  usage: 'show <hub>',
  describe: 'the charter in effect (every signature checked) and a proposal waiting for approvals',
  positionals: hub,
  examples: ['$0 hub show weather --json'],
  options: (a) => ({ action: 'show', hub: a.string('hub') ?? '' }),
  load,
});

const propose = defineCommand<HubOptions>({
  usage: 'propose <hub>',
  describe: 'propose the next version of a charter (the flags given replace those fields), signed by you, a maintainer',
  positionals: hub,
  flags: { ...fieldFlags, replace: { type: 'boolean', describe: 'replace a proposal that is waiting for approvals' } },
  examples: ['$0 hub propose weather --validator lab-v --validator lab-w --validator-threshold 2'],
  options: (a) => ({ action: 'propose', hub: a.string('hub') ?? '', fields: fieldOptions(a), replace: a.boolean('replace') }),
  load,
});

const approve = defineCommand<HubOptions>({
  usage: 'approve <hub>',
  describe: 'sign the proposal waiting for a hub (a maintainer); it takes effect once --threshold of the maintainers signed',
  positionals: hub,
  flags: { version: { type: 'number', describe: 'the version you expect to approve (refused if the proposal is another)' } },
  examples: ['$0 hub approve weather --version 2'],
  options: (a) => ({ action: 'approve', hub: a.string('hub') ?? '', version: a.number('version') }),
  load,
});

export const hubCommand = defineCommand<never>({
  usage: 'hub',
  describe: 'hub charters: create | show | propose | approve (maintainers, validators, publishers)',
  subcommands: [create, show, propose, approve],
  missingSubcommand: 'name a hub subcommand: create, show, propose or approve',
});
