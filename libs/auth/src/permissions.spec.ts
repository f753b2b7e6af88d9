import type { Principal } from '@app/http';
import { can, globToRegExp, isValidScope, resourcePatterns } from './permissions.js';

const principal = (role: Principal['role'], scopes: string[] = []): Principal => ({ role, scopes, actor: { kind: 'token', id: 't' } });

describe('permissions', () => {
  test('roles: owner ⊃ member (read) and application (automation)', () => {
    expect(can(principal('owner'), 'tokens:manage')).toBe(true);
    expect(can(principal('member'), 'kv:read')).toBe(true);
    expect(can(principal('member'), 'kv:write')).toBe(false);
    expect(can(principal('application'), 'kv:write')).toBe(true);
    expect(can(principal('application'), 'tokens:manage')).toBe(false);
  });

  test('scopes narrow a role but never widen it', () => {
    expect(can(principal('application', ['kv:read']), 'kv:write')).toBe(false);
    expect(can(principal('application', ['kv:read']), 'kv:read')).toBe(true);
    expect(can(principal('member', ['kv:write']), 'kv:write')).toBe(false);
    expect(can(principal('application', ['kv:*']), 'kv:write')).toBe(true);
  });

  test('path patterns', () => {
    const p = principal('application', ['kv:write:ci/*', 'docs:read:releases/**']);
    expect(can(p, 'kv:write', 'ci/build')).toBe(true);
    expect(can(p, 'kv:write', 'ci/a/b')).toBe(false);
    expect(can(p, 'kv:write', 'prod/x')).toBe(false);
    expect(can(p, 'docs:read', 'releases')).toBe(true);
    expect(can(p, 'docs:read', 'releases/2026/q4/doc')).toBe(true);
    expect(can(p, 'docs:read', 'releasesX/a')).toBe(false);
    expect(resourcePatterns(p, 'kv:write')).toEqual(['ci/*']);
    expect(resourcePatterns(principal('owner'), 'kv:write')).toBeNull();
  });

  test('glob', () => {
    expect(globToRegExp('a/**/z').test('a/z')).toBe(true);
    expect(globToRegExp('a/**/z').test('a/b/c/z')).toBe(true);
    expect(globToRegExp('a.b/*').test('aXb/c')).toBe(false);
  });

  test('scope syntax', () => {
    expect(isValidScope('kv:write:ci/*')).toBe(true);
    expect(isValidScope('tasks:write')).toBe(true);
    expect(isValidScope('nope:write')).toBe(false);
    expect(isValidScope('kv:write:has space')).toBe(false);
  });
});
