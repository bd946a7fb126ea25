/**
 * Prompts, written to stderr. Commands only call these after the runtime decided prompting is
 * possible (TTY on stdin and stdout, no CI, no --no-input); tests inject their own Prompter.
 */
import type { Readable, Writable } from 'node:stream';
import { SyncerError, interrupted } from '../errors.js';

export interface Choice<T> {
  name: string;
  value: T;
  description?: string;
}

export interface Prompter {
  select<T>(message: string, choices: Choice<T>[]): Promise<T>;
  input(message: string, options?: { default?: string; validate?: (v: string) => string | true }): Promise<string>;
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
  /** Starts loading what the first question needs while the caller reads the registry. */
  warm?(): void;
}

export function inquirerPrompter(io: { input: Readable; output: Writable; signal?: AbortSignal }): Prompter {
  const context = { input: io.input, output: io.output, signal: io.signal, clearPromptOnDone: false };
  const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      const name = (e as Error)?.name;
      if (name === 'ExitPromptError' || name === 'AbortPromptError' || name === 'CancelPromptError') throw interrupted();
      throw new SyncerError('UNEXPECTED', `prompt failed: ${(e as Error)?.message ?? e}`, { cause: e });
    }
  };
  return {
    warm() {
      import('@inquirer/prompts').catch(() => undefined);
    },
    async select(message, choices) {
      const { select } = await import('@inquirer/prompts');
      return wrap(() => select({ message, choices, pageSize: 15 }, context as never)) as never;
    },
    async input(message, options = {}) {
      const { input } = await import('@inquirer/prompts');
      return wrap(() => input({ message, default: options.default, validate: options.validate }, context as never));
    },
    async confirm(message, defaultValue = true) {
      const { confirm } = await import('@inquirer/prompts');
      return wrap(() => confirm({ message, default: defaultValue }, context as never));
    },
  };
}
