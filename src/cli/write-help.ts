/**
 * `npm run build`'s last step (`node dist/cli/write-help.js`): `syncer --help` drawn at the widths
 * most runs use (100 when stdout is not a terminal, 80 and the widest, 110) into
 * dist/cli/root-help.json. main.ts prints a page from it for `syncer --help` (or `-h`) alone when
 * the file is newer than main.js (a later `tsc` without this step makes it stale, and the page is
 * then drawn from the declarations as for any other width), so the common case loads none of the
 * commands' declarations: the same bytes, at the start-up cost of `syncer --version`.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rootHelpPage } from '../cli.js';

export const HELP_WIDTHS = [80, 100, 110];

const file = fileURLToPath(new URL('./root-help.json', import.meta.url));
const pages: Record<string, string> = {};
for (const width of HELP_WIDTHS) pages[width] = await rootHelpPage(width);
writeFileSync(`${file}.tmp`, `${JSON.stringify(pages)}\n`);
renameSync(`${file}.tmp`, file);
