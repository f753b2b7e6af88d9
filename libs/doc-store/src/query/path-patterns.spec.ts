import { patternRegex } from './path-patterns.js';

const matches = (pattern: string, path: string) => new RegExp(patternRegex(pattern)).test(path);

describe('query path patterns', () => {
  test.each<[string, string[], string[]]>([
    ['releases/*', ['releases/a', 'releases/b-1'], ['releases', 'releases/a/b', 'releasesX/a']],
    ['releases/**', ['releases', 'releases/a', 'releases/a/b/c'], ['releasesX/a', 'other/releases/a']],
    ['releases/**/final', ['releases/final', 'releases/a/final', 'releases/a/b/final'], ['releases/afinal', 'releases/a/final/x']],
    ['**/final', ['final', 'a/final', 'a/b/final'], ['afinal', 'a/final/b']],
    ['**', ['a', 'a/b/c'], []],
    ['org/*/app-1/*', ['org/t/app-1/d'], ['org/t/app-1', 'org/t/u/app-1/d', 'org/t/app-10/d']],
    ['org/team-*/build-*', ['org/team-1/build-7', 'org/team-/build-'], ['org/team-1/x/build-7', 'org/team-1/run-7']],
    ['a.b/c', ['a.b/c'], ['aXb/c']],
  ])('%s', (pattern, yes, no) => {
    for (const path of yes) expect([path, matches(pattern, path)]).toEqual([path, true]);
    for (const path of no) expect([path, matches(pattern, path)]).toEqual([path, false]);
  });
});
