// Informational: one line per dependency with a newer release (`pnpm outdated -r`), majors
// first. Never fails and never waits more than 90 s (a slow or unreachable registry only
// prints a note): CI shows it, nothing depends on it. Versions live in pnpm-workspace.yaml's
// catalog; some stay behind on purpose (its comments say why, e.g. Node 20 support).
import { spawnSync } from 'node:child_process';

const run = spawnSync('pnpm', ['outdated', '-r', '--format', 'json'], {
  encoding: 'utf8',
  timeout: 90_000,
  maxBuffer: 16 * 1024 * 1024,
});
// pnpm prints its warnings (slow registry requests) on stdout too, before the JSON.
const json = (run.stdout ?? '').slice(Math.max(0, (run.stdout ?? '').search(/^\{/m)));
let outdated;
try {
  outdated = JSON.parse(json || '{}');
} catch {
  outdated = undefined;
}
if (run.error || !outdated) {
  console.log(`pnpm outdated gave no summary (${run.error?.message ?? 'unreadable output'})`);
  process.exit(0);
}

const major = (v) => Number.parseInt(String(v).split('.')[0] ?? '', 10);
const rows = Object.entries(outdated).map(([name, info]) => ({
  name,
  from: info.current,
  to: info.latest,
  isMajor: major(info.latest) > major(info.current),
  deprecated: info.isDeprecated,
}));
rows.sort((a, b) => Number(b.isMajor) - Number(a.isMajor) || a.name.localeCompare(b.name));
const majors = rows.filter((r) => r.isMajor).length;
console.log(`${rows.length} dependencies have a newer release (${majors} of them a new major):`);
for (const r of rows) {
  const notes = [r.isMajor ? 'major' : '', r.deprecated ? 'deprecated' : ''].filter(Boolean);
  console.log(`  ${r.name} ${r.from} -> ${r.to}${notes.length ? ` (${notes.join(', ')})` : ''}`);
}
