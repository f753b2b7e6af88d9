import type { Principal } from '@app/http';

export type Role = Principal['role'];
export const ROLES: readonly Role[] = ['owner', 'member', 'application'];

/** Every permission an endpoint can require: `<resource>:<action>`. */
export const PERMISSIONS = [
  'tokens:manage',
  'kv:read',
  'kv:write',
  'docs:read',
  'docs:write',
  'tasks:read',
  'tasks:write',
  'webhooks:read',
  'webhooks:manage',
  'webhooks:trigger',
  'audit:read',
  'admin:projections',
  'metrics:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** owner ⊃ member (read everything) and application (automation: read and write data, no administration). */
const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  owner: new Set(PERMISSIONS),
  member: new Set(PERMISSIONS.filter((p) => p.endsWith(':read'))),
  application: new Set<Permission>(['kv:read', 'kv:write', 'docs:read', 'docs:write', 'tasks:read', 'tasks:write', 'webhooks:read', 'webhooks:trigger']),
};

const SCOPE = /^([a-z-]+|\*):([a-z-]+|\*)(?::([A-Za-z0-9._\-/*]{1,256}))?$/;

export function isValidScope(scope: string): boolean {
  const m = SCOPE.exec(scope);
  if (!m) return false;
  const [, resource, action] = m;
  if (resource === '*' && action === '*') return true;
  return PERMISSIONS.some((p) => {
    const [r, a] = p.split(':');
    return (resource === '*' || resource === r) && (action === '*' || action === a);
  });
}

const globCache = new Map<string, RegExp>();

/** `*` matches inside one path segment, `**` any number of segments (also none). */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re) return re;
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (out.endsWith('/')) {
        out = out.slice(0, -1) + '(?:/.*)?';
        if (glob[i + 1] === '/') i++;
      } else out += '.*';
    } else if (c === '*') out += '[^/]*';
    else out += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  re = new RegExp(`^${out}$`);
  globCache.set(glob, re);
  return re;
}

function scopeGrants(scope: string, permission: Permission, resource?: string): boolean {
  const m = SCOPE.exec(scope);
  if (!m) return false;
  const [, r, a, pattern] = m;
  const [pr, pa] = permission.split(':');
  if ((r !== '*' && r !== pr) || (a !== '*' && a !== pa)) return false;
  if (!pattern) return true;
  // A pattern-scoped grant applies to one resource; without one (e.g. a list) the caller filters per item.
  return resource === undefined ? true : globToRegExp(pattern).test(resource);
}

export function roleAllows(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}

/** The role must allow it and, if the token has scopes, one scope must grant it (for that resource). */
export function can(principal: Principal, permission: Permission, resource?: string): boolean {
  if (!roleAllows(principal.role, permission)) return false;
  if (principal.scopes.length === 0) return true;
  return principal.scopes.some((s) => scopeGrants(s, permission, resource));
}

/** Path patterns the principal may use for a permission; null means no restriction. */
export function resourcePatterns(principal: Principal, permission: Permission): string[] | null {
  if (principal.scopes.length === 0) return null;
  const patterns: string[] = [];
  for (const s of principal.scopes) {
    const m = SCOPE.exec(s);
    if (!m || !scopeGrants(s, permission)) continue;
    if (!m[3]) return null;
    patterns.push(m[3]);
  }
  return patterns;
}
