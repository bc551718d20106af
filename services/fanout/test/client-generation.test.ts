// "A client can be generated from openapi.yaml": openapi-typescript (a widely used generator)
// turns the document into TypeScript types, and a small client written against them compiles
// under strict TypeScript, with required fields present and enums closed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const DOCUMENT = new URL('../openapi.yaml', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'tripwire-client-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a client author writes against the generated types; it must compile as is. */
const CLIENT = `
import type { components, operations } from './tripwire-api.js';

type Json<O extends keyof operations, S extends number> = operations[O]['responses'] extends {
  [K in S]: { content: { 'application/json': infer B } };
} ? B : never;

export function firstAlertId(page: Json<'listAlerts', 200>): string | undefined {
  return page.alerts[0]?.alert_id;
}
export function hostLabel(host: components['schemas']['Host']): string {
  // Required fields are typed as present: no undefined to handle.
  return host.hostname.toUpperCase() + ' ' + host.status;
}
export function errorCode(body: components['schemas']['Error']): string {
  return body.error.code;
}
export const severity: components['schemas']['Alert']['severity'] = 'CRITICAL';
// @ts-expect-error the enum is closed: a severity the API never sends does not compile
export const wrong: components['schemas']['Alert']['severity'] = 'LOUD';
export const newRule: operations['createRule']['requestBody'] = {
  content: { 'application/json': { name: 'passwd', tripwire_type: 'FILE', target: '/etc/passwd' } },
};
`;

function compile(files: string[]) {
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('a client generated from openapi.yaml', () => {
  it('has a typed operation for every operationId, and a client using them compiles', async () => {
    // Fields with a default stay optional in request bodies (the document lists what answers
    // always carry in `required`): the flag docs/fanout.md gives for generating clients.
    const types = astToString(await openapiTS(DOCUMENT, { defaultNonNullable: false }));
    writeFileSync(join(dir, 'tripwire-api.ts'), types);
    writeFileSync(join(dir, 'client.ts'), CLIENT);
    const document = parse(readFileSync(DOCUMENT, 'utf8')) as {
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    const ids = Object.values(document.paths).flatMap((item) =>
      Object.values(item).flatMap((op) => op.operationId ?? []),
    );
    for (const id of ids) expect(types).toContain(`    ${id}: {`);
    expect(compile([join(dir, 'client.ts')])).toEqual([]);
  }, 60_000);
});
