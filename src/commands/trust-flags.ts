/** The trust flags of every command that reads advertisements (retrieve, ls, reindex, watch, mirror). */
import type { Args, FlagSpec } from './command.js';

export const trustFlags: Record<string, FlagSpec> = {
  'allow-unsigned': { type: 'boolean', describe: 'accept advertisements without a signature (signed ones are still verified)' },
  'accept-key': { type: 'boolean', describe: 'trust an operator key that changed without a signed rotation, and pin it' },
};

export const trustOptions = (args: Args) => ({ allowUnsigned: args.boolean('allow-unsigned'), acceptKey: args.boolean('accept-key') });
