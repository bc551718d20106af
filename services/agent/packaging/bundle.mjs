// One CommonJS file holding tripwire-agent and everything it imports (workspace packages read
// from their TypeScript sources), the script Node's single-executable application runs.
// Usage: node packaging/bundle.mjs OUT_FILE
// A native addon cannot live inside the executable: each `require('…/NAME.node')` becomes
// loadShippedAddon('NAME.node') (src/shipped-files.ts), which loads the file shipped in
// /usr/lib/tripwire-agent; an addon not listed in SHIPPED_ADDONS fails the build, so a new one
// is never left out of the package silently.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const SHIPPED_ADDONS = ['re2.node'];

const agentDir = fileURLToPath(new URL('..', import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node packaging/bundle.mjs OUT_FILE');
  process.exit(2);
}
const { version } = JSON.parse(readFileSync(`${agentDir}/package.json`, 'utf8'));
const shippedFiles = JSON.stringify(`${agentDir}/src/shipped-files.ts`);

const shippedAddons = {
  name: 'shipped-addons',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => {
      const name = basename(args.path);
      if (!SHIPPED_ADDONS.includes(name))
        return { errors: [{ text: `native addon ${args.path} is not shipped (SHIPPED_ADDONS)` }] };
      return { path: name, namespace: 'shipped-addon' };
    });
    b.onLoad({ filter: /.*/, namespace: 'shipped-addon' }, (args) => ({
      contents: `module.exports = require(${shippedFiles}).loadShippedAddon(${JSON.stringify(args.path)});`,
      resolveDir: agentDir,
      loader: 'js',
    }));
  },
};

const result = await build({
  entryPoints: [`${agentDir}/src/cli.ts`],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  conditions: ['@tripwire/source'],
  define: { TRIPWIRE_AGENT_BUNDLE: JSON.stringify({ version }) },
  plugins: [shippedAddons],
  legalComments: 'none',
  logLevel: 'warning',
  // shipped-files.ts reads import.meta.url only when not bundled.
  logOverride: { 'empty-import-meta': 'silent' },
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs).length;
console.log(`${out}: ${inputs} modules, tripwire-agent ${version}`);
