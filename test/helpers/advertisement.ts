/** One well-formed advertisement (unsigned) of weather/2026-11-22/lab-a, for unit tests of parsing and signing. */
import type { Advertisement } from '../../src/core/advertisement.js';

export const sampleAdvertisement: Advertisement = {
  schema: 1,
  hub: 'weather',
  date: '2026-11-22',
  operator: 'lab-a',
  remote: 'https://git.example.org/lab-a/data.git',
  branch: 'main',
  commit: 'a'.repeat(40),
  tag: 'syncer/weather/2026-11-22',
  path: 'weather',
  files: 3,
  bytes: 1200,
  message: 'sync weather 2026-11-22',
  syncedAt: '2026-11-22T10:00:00.000Z',
  runId: 'r1',
};

/** The registry key's parts that sampleAdvertisement belongs under. */
export const sampleId = { hub: 'weather', date: '2026-11-22', operator: 'lab-a' };
