// Dependencies point downward: a package under packages/ never depends on, imports, or reaches
// by relative path into a workspace package under services/ (a service's test fixtures live
// with the service; tests that need a real service live in tests/). Run by `pnpm test`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parseCommandLine } from './command-line.mjs';

parseCommandLine({
  usage: `usage: pnpm deps:check

Fails when a package under packages/ depends on, imports, or reaches by relative path into a
workspace package under services/. Takes no options.`,
  options: {},
});

const root = resolve(import.meta.dirname, '..');
const servicesDir = join(root, 'services');
const SKIP = new Set(['node_modules', 'dist', '.turbo', 'gen', 'test-output']);
const DEPENDENCY_FIELDS = ['dependencies', 'devDependencies', 'peerDependencies'];
const workspaceDirs = (dir) =>
  readdirSync(join(root, dir))
    .map((name) => join(root, dir, name))
    .filter((d) => statSync(join(d, 'package.json'), { throwIfNoEntry: false }));
const manifest = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const services = workspaceDirs('services').map((d) => manifest(d).name);
const isService = (spec) => services.some((s) => spec === s || spec.startsWith(`${s}/`));
const inServices = (path) => path === servicesDir || path.startsWith(servicesDir + sep);
function* codeFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (SKIP.has(entry.name)) continue;
    if (entry.isDirectory()) yield* codeFiles(path);
    else if (/\.[cm]?[jt]sx?$/.test(entry.name)) yield path;
  }
}

const problems = [];
const packages = workspaceDirs('packages');
for (const dir of packages) {
  const pkg = manifest(dir);
  for (const field of DEPENDENCY_FIELDS) {
    for (const dep of Object.keys(pkg[field] ?? {}).filter(isService)) {
      problems.push(`${relative(root, dir)}/package.json: ${field} has ${dep}`);
    }
  }
  for (const file of codeFiles(dir)) {
    // Every string literal: import/export/require/import() specifiers and `new URL('../..')` paths.
    for (const [, , spec] of readFileSync(file, 'utf8').matchAll(/(['"`])([^'"`\n]+)\1/g)) {
      const bad = spec.startsWith('.') ? inServices(resolve(dirname(file), spec)) : isService(spec);
      if (bad) problems.push(`${relative(root, file)}: '${spec}' reaches into services/`);
    }
  }
}
if (problems.length) {
  console.error(`Packages must not depend on services:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`dependency direction: ${packages.length} packages, none reaches into services/`);
