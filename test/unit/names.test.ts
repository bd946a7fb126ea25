import { describe, expect, it } from 'vitest';
import { checkDatasetPath, datasetPathProblem, isDate, isName, nameProblem, utcDate } from '../../src/core/names.js';

describe('NAME', () => {
  it.each(['lab-a', 'a', 'weather.v2', 'x_1', '0abc', 'a'.repeat(63)])('accepts %s', (n) => expect(isName(n)).toBe(true));
  it.each([
    ['', 'empty'],
    ['Lab', 'upper case'],
    ['-a', 'leading dash'],
    ['.a', 'leading dot'],
    ['a..b', 'double dot'],
    ['a.', 'trailing dot'],
    ['data.lock', '.lock suffix'],
    ['a/b', 'slash'],
    ['a b', 'space'],
    ['a\u001b', 'control char'],
    ['a'.repeat(64), 'too long'],
  ])('rejects %j (%s)', (n) => {
    expect(isName(n)).toBe(false);
    expect(nameProblem(n)).toBeTypeOf('string');
  });
});

describe('DATE', () => {
  it('accepts real zero-padded dates', () => {
    expect(isDate('2026-11-22')).toBe(true);
    expect(isDate('2024-02-29')).toBe(true);
  });
  it.each(['2026-13-01', '2026-02-30', '2025-02-29', '2026-1-01', '26-11-22', '2026/11/22', 'latest', ''])('rejects %j', (d) => expect(isDate(d)).toBe(false));
  it('uses the UTC calendar date (17:00 in California is tomorrow)', () => {
    expect(utcDate(new Date('2026-11-22T17:00:00-08:00'))).toBe('2026-11-23');
    expect(utcDate(new Date('2026-11-22T23:59:59Z'))).toBe('2026-11-22');
  });
});

describe('dataset path', () => {
  it('normalises slashes', () => expect(checkDatasetPath('weather//raw/')).toBe('weather/raw'));
  it.each(['/etc', '../x', 'a/../b', './a', '-rf', '.git/hooks', 'a\\b', 'a\u0000b', '', 'a*', 'x/[ab]', '!x', 'a/#b'])('rejects %j', (p) =>
    expect(datasetPathProblem(p)).toBeTypeOf('string'),
  );
  it('throws a usage error (exit 2) naming the flag', () => {
    expect(() => checkDatasetPath('../x')).toThrow(/--path/);
    try {
      checkDatasetPath('/abs');
    } catch (e) {
      expect((e as { exitCode: number }).exitCode).toBe(2);
    }
  });
});
