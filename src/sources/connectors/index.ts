/**
 * The connector of a definition's type, loaded when a run needs it (pg is never loaded for a CSV
 * source): where `pull` reads records from, and where `push` sends them.
 */
import type { Destination, FetchContext, FetchedItem, PushContext } from '../core/connector.js';
import type { Definition } from '../core/definitions.js';

/** The records of a source, from the cursor on. */
export async function fetcher(d: Definition, ctx: FetchContext): Promise<AsyncIterable<FetchedItem>> {
  if (d.type === 'csv') return (await import('./csv.js')).fetchCsv(d, ctx);
  if (d.type === 'http') return (await import('./http.js')).fetchHttp(d, ctx);
  return (await import('./postgres.js')).fetchPostgres(d, ctx);
}

/** A source as the destination of a push. */
export async function destination(d: Definition, ctx: PushContext): Promise<Destination> {
  if (d.type === 'csv') return (await import('./csv.js')).csvDestination(d, ctx);
  if (d.type === 'http') return (await import('./http.js')).httpDestination(d, ctx);
  return (await import('./postgres.js')).postgresDestination(d, ctx);
}
