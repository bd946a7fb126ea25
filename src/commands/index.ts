/**
 * Every command by name, in the order `syncer --help` lists them. A command's declaration is
 * loaded only when it is named (or for the help page): `syncer ls` reads one small file, not all.
 */
import type { CommandSpec } from './command.js';

type Spec = CommandSpec<never>;

const declarations: Record<string, () => Promise<Spec>> = {
  init: async () => (await import('./init/command.js')).initCommand,
  sync: async () => (await import('./sync/command.js')).syncCommand,
  retrieve: async () => (await import('./retrieve/command.js')).retrieveCommand,
  ls: async () => (await import('./ls/command.js')).lsCommand,
  config: async () => (await import('./config/command.js')).configCommand,
  reindex: async () => (await import('./reindex/command.js')).reindexCommand,
  watch: async () => (await import('./watch/command.js')).watchCommand,
  mirror: async () => (await import('./mirror/command.js')).mirrorCommand,
  source: async () => (await import('./source/command.js')).sourceCommand,
  operators: async () => (await import('./operators/command.js')).operatorsCommand,
  describe: async () => (await import('./describe/command.js')).describeCommand,
  search: async () => (await import('./search/command.js')).searchCommand,
  keys: async () => (await import('./keys/command.js')).keysCommand,
  hub: async () => (await import('./hub/command.js')).hubCommand,
  vote: async () => (await import('./vote/command.js')).voteCommand,
  doctor: async () => (await import('./doctor/command.js')).doctorCommand,
  etcd: async () => (await import('./etcd/command.js')).etcdCommand,
};

export const commandNames = Object.keys(declarations);

export const loadCommand = (name: string): Promise<Spec> | undefined => (Object.hasOwn(declarations, name) ? declarations[name]!() : undefined);

export const loadCommands = (): Promise<Spec[]> => Promise.all(commandNames.map((name) => declarations[name]!()));
