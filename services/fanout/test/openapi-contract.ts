import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Checks an answer of the fan-out against services/fanout/openapi.yaml: the operation, its status
 * and content type must be documented, and the body must match the documented schema, with no
 * undocumented field. Ajv's draft 2020-12 validator is OpenAPI 3.1's schema dialect; this file
 * only finds the operation and closes the objects (see closeObjects).
 */

type Schema = { [k: string]: unknown };
interface MediaType {
  schema?: Schema;
}
interface ResponseObject {
  $ref?: string;
  content?: Record<string, MediaType>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>;
  components: { schemas: Record<string, Schema>; responses: Record<string, ResponseObject> };
}

const SCHEMA_REF = '#/components/schemas/';
const schemaId = (name: string) => `urn:tripwire:openapi:${name}`;

/** OpenAPI's own keywords in a schema, which JSON Schema does not define. */
const OPENAPI_KEYWORDS = ['example', 'discriminator', 'xml', 'externalDocs'];

/**
 * A copy of `schema` in which every object schema used as a value (a response body, a property,
 * an array item, a oneOf alternative) refuses properties it does not document
 * (`unevaluatedProperties: false`, which sees through $ref and allOf). The document itself stays
 * open for compatible additions; the tests hold the server to what it says today. allOf branches
 * are not closed on their own: their parent is.
 */
export function closeObjects(schema: unknown, close: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((s) => closeObjects(s, close));
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema as Schema)) {
    if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Schema).map(([k, v]) => [k, closeObjects(v, true)]),
      );
    } else if (['items', 'additionalProperties', 'oneOf', 'anyOf'].includes(key)) {
      out[key] = closeObjects(value, true);
    } else if (key === 'allOf') {
      out[key] = closeObjects(value, false);
    } else if (key === '$ref' && typeof value === 'string' && value.startsWith(SCHEMA_REF)) {
      out[key] = schemaId(value.slice(SCHEMA_REF.length));
    } else out[key] = value;
  }
  const objectLike = '$ref' in out || 'properties' in out || 'allOf' in out;
  const open = 'additionalProperties' in out || 'unevaluatedProperties' in out;
  if (close && objectLike && !open) out.unevaluatedProperties = false;
  return out;
}

export interface Contract {
  /** True when the document has this operation (a path the service serves under a template). */
  documents(method: string, path: string): boolean;
  /** Throws, saying what differs, unless the answer is one the document describes. */
  check(answer: {
    method: string;
    path: string;
    status: number;
    contentType: string | null;
    body: string;
  }): void;
}

export function loadContract(
  text = readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8'),
): Contract {
  const document = parse(text) as OpenApiDocument;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false });
  // A CommonJS module: its plugin is also its `default` member, which NodeNext types see.
  ajvFormats.default(ajv);
  ajv.addVocabulary(OPENAPI_KEYWORDS);
  for (const [name, schema] of Object.entries(document.components.schemas)) {
    ajv.addSchema({ ...(closeObjects(schema, false) as Schema), $id: schemaId(name) });
  }
  const compiled = new Map<Schema, ValidateFunction>();
  const validator = (schema: Schema) => {
    let fn = compiled.get(schema);
    if (!fn) {
      fn = ajv.compile(closeObjects(schema, true) as Schema);
      compiled.set(schema, fn);
    }
    return fn;
  };
  // Literal paths before templated ones: /api/enrollments/pending is not /api/enrollments/{id}.
  const templates = Object.keys(document.paths)
    .map((path) => ({
      path,
      params: (path.match(/\{/g) ?? []).length,
      pattern: new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }))
    .sort((a, b) => a.params - b.params);
  const resolve = (r: ResponseObject): ResponseObject =>
    r.$ref ? document.components.responses[r.$ref.split('/').pop()!]! : r;

  const operationOf = (method: string, path: string) => {
    const bare = path.split('?')[0]!;
    const template = templates.find((t) => t.pattern.test(bare));
    return template && document.paths[template.path]![method.toLowerCase()];
  };

  return {
    documents: (method, path) => operationOf(method, path) !== undefined,
    check({ method, path, status, contentType, body }) {
      const where = `${method.toUpperCase()} ${path.split('?')[0]} → ${status}`;
      const operation = operationOf(method, path);
      if (!operation) throw new Error(`${where}: openapi.yaml has no such operation`);
      const documented =
        operation.responses[String(status)] ??
        operation.responses[`${String(status)[0]}XX`] ??
        operation.responses.default;
      if (!documented) {
        throw new Error(
          `${where}: status not documented (documented: ${Object.keys(operation.responses).join(', ')}); body ${body.slice(0, 300)}`,
        );
      }
      const content = resolve(documented).content;
      if (!content) {
        if (body !== '')
          throw new Error(`${where}: documented without a body, got ${body.slice(0, 200)}`);
        return;
      }
      const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
      const media = content[mediaType];
      if (!media) {
        throw new Error(
          `${where}: content type ${mediaType || '(none)'} not documented (${Object.keys(content).join(', ')})`,
        );
      }
      if (mediaType !== 'application/json' || !media.schema) return;
      const validate = validator(media.schema);
      if (!validate(JSON.parse(body))) {
        throw new Error(
          `${where}: body differs from openapi.yaml: ${describe(validate.errors)}; body ${body.slice(0, 500)}`,
        );
      }
    },
  };
}

const describe = (errors: ValidateFunction['errors']) =>
  (errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
    .join('; ');

let shared: Contract | undefined;
/** The document of this checkout, loaded once per test file. */
export function contract(): Contract {
  shared ??= loadContract();
  return shared;
}

/**
 * Checks a fetch Response of a test that calls fetch itself (a redirect it does not follow, a
 * cookie it sends), reading a clone so the test can still read the body.
 */
export async function checkResponse(method: string, res: Response): Promise<void> {
  const body = await res.clone().text();
  contract().check({
    method,
    path: new URL(res.url).pathname,
    status: res.status,
    contentType: res.headers.get('content-type'),
    body,
  });
}

/** fetch, for a call to the fan-out: the answer is checked against openapi.yaml (checkResponse). */
export async function fetchDocumented(url: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(url, init);
  await checkResponse(init.method ?? 'GET', res);
  return res;
}
