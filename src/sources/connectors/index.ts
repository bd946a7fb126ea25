/**
 * The connector of a definition's type, loaded when a run needs it (pg is never loaded for a CSV
 * source): where `pull` reads records from, and where `push` sends them.
 */
import type { Destination, FetchContext, FetchedItem, PushContext } from '../core/connector.js';
import type { Definition } from '../core/definitions.js';

/**
 * Fetched records a batch at a time (a pull awaits once per batch, not per record). With
 * `columns`, every record's own keys are exactly these, once each, and every value is a string.
 */
export interface FetchedBatch {
  items: FetchedItem[];
  columns?: readonly string[];
}

/** The records of a source, from the cursor on. */
export async function fetcher(d: Definition, ctx: FetchContext): Promise<AsyncIterable<FetchedItem>> {
  if (d.type === 'csv') return (await import('./csv.js')).fetchCsv(d, ctx);
  if (d.type === 'http') return (await import('./http.js')).fetchHttp(d, ctx);
  return (await import('./postgres.js')).fetchPostgres(d, ctx);
}

/** The records of a source, from the cursor on, in batches. */
export async function fetchBatches(d: Definition, ctx: FetchContext): Promise<AsyncIterable<FetchedBatch>> {
  if (d.type === 'csv') return (await import('./csv.js')).fetchCsvBatches(d, ctx);
  return oneByOne(await fetcher(d, ctx));
}

/** Records that come one at a time (an HTTP page, a database cursor already hold them), as batches of one. */
async function* oneByOne(items: AsyncIterable<FetchedItem>): AsyncGenerator<FetchedBatch> {
  for await (const item of items) yield { items: [item] };
}

/** A source as the destination of a push. */
export async function destination(d: Definition, ctx: PushContext): Promise<Destination> {
  if (d.type === 'csv') return (await import('./csv.js')).csvDestination(d, ctx);
  if (d.type === 'http') return (await import('./http.js')).httpDestination(d, ctx);
  return (await import('./postgres.js')).postgresDestination(d, ctx);
}
