// Compiles apps/, libs/, bench/ and test/support to dist/ with swc (decorators + metadata),
// rewriting `@app/<lib>` imports to relative paths so plain `node` runs the ESM output.
import { transformFile } from '@swc/core';
import { mkdir, readdir, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist');
const sources = ['apps', 'libs', 'bench', 'test'];

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && !entry.name.endsWith('.spec.ts') && !entry.name.endsWith('.test.ts')) yield full;
  }
}

async function compile(file) {
  const rel = path.relative(root, file);
  const target = path.join(out, rel.replace(/\.ts$/, '.js'));
  const { code, map } = await transformFile(file, {
    sourceMaps: true,
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      target: 'es2022',
      keepClassNames: true,
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    },
    module: { type: 'es6' },
  });
  const fromDir = path.dirname(target);
  const rewritten = code.replace(/(from\s+|import\s*\(\s*|import\s+)(['"])@app\/([a-z0-9-]+)\2/g, (_m, lead, q, lib) => {
    let p = path.relative(fromDir, path.join(out, 'libs', lib, 'src', 'index.js'));
    if (!p.startsWith('.')) p = './' + p;
    return `${lead}${q}${p}${q}`;
  });
  await mkdir(fromDir, { recursive: true });
  await writeFile(target, rewritten + `\n//# sourceMappingURL=${path.basename(target)}.map\n`);
  await writeFile(target + '.map', map);
}

const started = Date.now();
const files = [];
for (const dir of sources) {
  const full = path.join(root, dir);
  if (await stat(full).catch(() => null)) for await (const f of walk(full)) files.push(f);
}
await Promise.all(files.map(compile));
await writeFile(path.join(out, 'package.json'), '{"type":"module"}\n');
if (!process.env.QUIET_BUILD) console.error(`built ${files.length} files in ${Date.now() - started} ms`);
