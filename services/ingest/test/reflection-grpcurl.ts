// What grpcurl does with `-d '<json>' <address> <service>/<method>`, for tests that prove README
// examples: resolve the method through the server's reflection service (no .proto files),
// turn the proto3 JSON into the request message, call, and decode the answers.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  type Client,
  type ClientReadableStream,
  credentials,
  loadPackageDefinition,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

const require = createRequire(import.meta.url);
const REFLECTION_PROTO = join(
  dirname(require.resolve('@grpc/reflection')),
  '../proto/grpc/reflection/v1/reflection.proto',
);

interface ReflectionResponse {
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  list_services_response?: { service: Array<{ name: string }> };
  error_response?: { error_code: number; error_message: string };
}

type ReflectionClient = Client & {
  ServerReflectionInfo(): import('@grpc/grpc-js').ClientDuplexStream<object, ReflectionResponse>;
};

/** One grpc.reflection.v1 request and its answer. */
function ask(client: ReflectionClient, request: object): Promise<ReflectionResponse> {
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on('data', (res: ReflectionResponse) => {
      call.end();
      if (res.error_response) reject(new Error(res.error_response.error_message));
      else resolve(res);
    });
    call.on('error', reject);
    call.write(request);
  });
}

/** One file's descriptor and those sent along (by symbol or file name). */
const reflect = async (client: ReflectionClient, request: object) =>
  (await ask(client, request)).file_descriptor_response?.file_descriptor_proto ?? [];

function reflectionClient(address: string): ReflectionClient {
  const definition = loadSync(REFLECTION_PROTO, { keepCase: true });
  const pkg = loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (...a: unknown[]) => ReflectionClient } } };
  };
  return new pkg.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure());
}

/** `grpcurl list`: the services the server's reflection names. */
export async function listServices(address: string): Promise<string[]> {
  const client = reflectionClient(address);
  try {
    const res = await ask(client, { list_services: '' });
    return (res.list_services_response?.service ?? []).map((s) => s.name);
  } finally {
    client.close();
  }
}

/** The server's descriptors for `symbol` and every file it imports, as a protobufjs Root. */
async function reflectedRoot(address: string, symbol: string): Promise<protobuf.Root> {
  const client = reflectionClient(address);
  try {
    const files = new Map<string, descriptor.IFileDescriptorProto>();
    const add = (buffers: Buffer[]) => {
      for (const b of buffers) {
        const file = descriptor.FileDescriptorProto.decode(b) as descriptor.IFileDescriptorProto;
        files.set(file.name!, file);
      }
    };
    add(await reflect(client, { file_containing_symbol: symbol }));
    for (let missing = true; missing; ) {
      missing = false;
      for (const file of [...files.values()]) {
        for (const dep of file.dependency ?? []) {
          if (files.has(dep)) continue;
          missing = true;
          add(await reflect(client, { file_by_filename: dep }));
          if (!files.has(dep)) throw new Error(`reflection did not serve ${dep}`);
        }
      }
    }
    // ext/descriptor adds Root.fromDescriptor at run time; its typings do not declare it.
    const Root = protobuf.Root as unknown as { fromDescriptor(set: unknown): protobuf.Root };
    const root = Root.fromDescriptor(
      descriptor.FileDescriptorSet.create({ file: [...files.values()] }),
    );
    root.resolveAll();
    return root;
  } finally {
    client.close();
  }
}

const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * proto3 JSON → a message object protobufjs encodes, as strictly as grpcurl: unknown fields
 * and unknown enum names are errors; the field's name or its lowerCamelCase JSON name both work.
 */
function fromProto3Json(type: protobuf.Type, json: unknown, path = ''): protobuf.Message {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${path || type.fullName}: expected a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fieldsArray.find((f) => f.name === key || camel(f.name) === key);
    if (!field) throw new Error(`${type.fullName} has no field "${key}"`);
    const where = `${path}${field.name}`;
    const one = (v: unknown): unknown => {
      field.resolve();
      if (field.resolvedType instanceof protobuf.Enum) {
        if (typeof v === 'number') return v;
        if (typeof v !== 'string' || !(v in field.resolvedType.values)) {
          throw new Error(`${where}: "${String(v)}" is not a value of ${field.resolvedType.name}`);
        }
        return v;
      }
      if (field.resolvedType instanceof protobuf.Type) {
        if (field.resolvedType.fullName === '.google.protobuf.Timestamp' && typeof v === 'string') {
          const ms = Date.parse(v);
          if (Number.isNaN(ms)) throw new Error(`${where}: not an RFC 3339 timestamp`);
          return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
        }
        return fromProto3Json(field.resolvedType, v, `${where}.`);
      }
      const expected =
        field.type === 'bool' ? 'boolean' : field.type === 'string' ? 'string' : undefined;
      if (expected && typeof v !== expected) throw new Error(`${where}: expected a ${expected}`);
      return v;
    };
    if (field.repeated) {
      if (!Array.isArray(value)) throw new Error(`${where}: expected a JSON array`);
      out[field.name] = value.map(one);
    } else {
      out[field.name] = one(value);
    }
  }
  return type.fromObject(out);
}

export interface GrpcurlCommand {
  address: string;
  /** e.g. tripwire.v1.IncidentService/ListIncidents */
  method: string;
  headers: Array<[string, string]>;
  data: string;
  plaintext: boolean;
}

/** grpcurl's arguments (as the shell hands them over) → what the call is. */
export function parseGrpcurlArgs(args: string[]): GrpcurlCommand {
  const cmd: GrpcurlCommand = {
    address: '',
    method: '',
    headers: [],
    data: '{}',
    plaintext: false,
  };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-plaintext') cmd.plaintext = true;
    else if (a === '-H') {
      const header = args[++i]!;
      const colon = header.indexOf(':');
      cmd.headers.push([
        header.slice(0, colon).trim().toLowerCase(),
        header.slice(colon + 1).trim(),
      ]);
    } else if (a === '-d') cmd.data = args[++i]!;
    else if (a.startsWith('-')) throw new Error(`this check does not know grpcurl flag ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 2)
    throw new Error(`expected <address> <method>, got ${positional.join(' ')}`);
  [cmd.address, cmd.method] = positional as [string, string];
  return cmd;
}

export interface GrpcurlResult {
  /** Each response message as proto3-style objects (enum names, 64-bit integers as strings). */
  messages: Array<Record<string, unknown>>;
  error: ServiceError | undefined;
}

/**
 * Runs one grpcurl command against a live server. A server-streaming call is read for
 * `streamForMs` and then cancelled (grpcurl would go on until the stream ends).
 */
export async function runGrpcurl(cmd: GrpcurlCommand, streamForMs = 1_000): Promise<GrpcurlResult> {
  const [serviceName, methodName] = cmd.method.split('/') as [string, string];
  const root = await reflectedRoot(cmd.address, serviceName);
  const service = root.lookupService(serviceName);
  const method = service.methods[methodName];
  if (!method) throw new Error(`${serviceName} has no method ${methodName}`);
  method.resolve();
  const requestType = method.resolvedRequestType!;
  const responseType = method.resolvedResponseType!;
  const request = fromProto3Json(requestType, JSON.parse(cmd.data));
  const metadata = new Metadata();
  for (const [k, v] of cmd.headers) metadata.add(k, v);
  const { Client: GrpcClient } = await import('@grpc/grpc-js');
  const client = new GrpcClient(cmd.address, credentials.createInsecure());
  const path = `/${serviceName}/${methodName}`;
  const serialize = (m: protobuf.Message) => Buffer.from(requestType.encode(m).finish());
  const deserialize = (b: Buffer) =>
    responseType.toObject(responseType.decode(b), { enums: String, longs: String }) as Record<
      string,
      unknown
    >;
  try {
    if (!method.responseStream) {
      return await new Promise<GrpcurlResult>((resolve) =>
        client.makeUnaryRequest(path, serialize, deserialize, request, metadata, (err, res) =>
          resolve({ messages: res ? [res] : [], error: err ?? undefined }),
        ),
      );
    }
    const call: ClientReadableStream<Record<string, unknown>> = client.makeServerStreamRequest(
      path,
      serialize,
      deserialize,
      request,
      metadata,
    );
    const result: GrpcurlResult = { messages: [], error: undefined };
    call.on('data', (m) => result.messages.push(m));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, streamForMs);
      call.on('error', (err: ServiceError) => {
        clearTimeout(timer);
        result.error = err;
        resolve();
      });
    });
    call.removeAllListeners('error');
    call.on('error', () => {});
    call.cancel();
    return result;
  } finally {
    client.close();
  }
}
