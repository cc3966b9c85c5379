import { type DescFile, type DescService, type FileRegistry, create, createFileRegistry, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import * as v1 from '../../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';

export interface ReflectionService {
  v1: ServiceImpl<typeof v1.ServerReflection>;
  v1alpha: ServiceImpl<typeof v1alpha.ServerReflection>;
}

// v1 and v1alpha carry the same messages under two package names; one answer serves both.
type ReflectionRequest = v1.ServerReflectionRequest['messageRequest'] | v1alpha.ServerReflectionRequest['messageRequest'];

type ReflectionAnswer =
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: 'allExtensionNumbersResponse'; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: 'listServicesResponse'; value: { service: { name: string }[] } }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };

const notFound = 5;
const invalidArgument = 3;

/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) for the given services: what grpcurl, `buf curl` and
 * Postman use to discover the API. Files come with all their transitive imports, google/protobuf/* included.
 */
export function createReflectionService(services: DescService[]): ReflectionService {
  const registry = fileRegistry(services);
  const symbols = symbolIndex(registry);
  const encoded = new Map<string, Uint8Array>();
  const encode = (file: DescFile) => {
    let bytes = encoded.get(file.proto.name);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      encoded.set(file.proto.name, bytes);
    }
    return bytes;
  };
  const files = (file: DescFile | undefined, what: string): ReflectionAnswer =>
    file === undefined
      ? { case: 'errorResponse', value: { errorCode: notFound, errorMessage: `${what} not found` } }
      : { case: 'fileDescriptorResponse', value: { fileDescriptorProto: withDependencies(file).map(encode) } };

  const answer = (request: ReflectionRequest): ReflectionAnswer => {
    switch (request.case) {
      case 'listServices':
        return { case: 'listServicesResponse', value: { service: services.map((s) => ({ name: s.typeName })) } };
      case 'fileByFilename':
        return files(registry.getFile(request.value), `file ${request.value}`);
      case 'fileContainingSymbol':
        return files(symbols.get(withoutDot(request.value)), `symbol ${request.value}`);
      case 'fileContainingExtension': {
        const { containingType, extensionNumber } = request.value;
        const extendee = registry.getMessage(withoutDot(containingType));
        const extension = extendee && registry.getExtensionFor(extendee, extensionNumber);
        return files(extension?.file, `extension ${extensionNumber} of ${containingType}`);
      }
      case 'allExtensionNumbersOfType': {
        const typeName = withoutDot(request.value);
        if (registry.getMessage(typeName) === undefined) {
          return { case: 'errorResponse', value: { errorCode: notFound, errorMessage: `type ${request.value} not found` } };
        }
        const numbers: number[] = [];
        for (const desc of registry) {
          if (desc.kind === 'extension' && desc.extendee.typeName === typeName) numbers.push(desc.number);
        }
        return { case: 'allExtensionNumbersResponse', value: { baseTypeName: typeName, extensionNumber: numbers } };
      }
      default:
        return { case: 'errorResponse', value: { errorCode: invalidArgument, errorMessage: 'the request names no query' } };
    }
  };

  return {
    v1: {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          const messageResponse = answer(request.messageRequest);
          yield create(v1.ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request, messageResponse });
        }
      },
    },
    v1alpha: {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          const messageResponse = answer(request.messageRequest);
          yield create(v1alpha.ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request, messageResponse });
        }
      },
    },
  };
}

// Every file the services need, dependencies first, as createFileRegistry wants them.
function fileRegistry(services: DescService[]): FileRegistry {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  services.forEach((service) => visit(service.file));
  return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered.map((f) => f.proto) }));
}

// Every fully-qualified name a client may ask about: types, services, methods, fields, oneofs, enum values
// (which live in their enum's enclosing scope) and extensions.
function symbolIndex(registry: FileRegistry): Map<string, DescFile> {
  const index = new Map<string, DescFile>();
  for (const desc of registry) {
    index.set(desc.typeName, desc.file);
    switch (desc.kind) {
      case 'service':
        for (const method of desc.methods) index.set(`${desc.typeName}.${method.name}`, desc.file);
        break;
      case 'message':
        for (const member of [...desc.fields, ...desc.oneofs]) index.set(`${desc.typeName}.${member.name}`, desc.file);
        break;
      case 'enum': {
        const scope = desc.typeName.slice(0, desc.typeName.lastIndexOf('.') + 1);
        for (const value of desc.values) index.set(`${scope}${value.name}`, desc.file);
        break;
      }
    }
  }
  return index;
}

// The file first, then everything it imports, transitively, each once.
function withDependencies(file: DescFile): DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const queue = [file];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    if (seen.has(next.proto.name)) continue;
    seen.add(next.proto.name);
    out.push(next);
    queue.push(...next.dependencies);
  }
  return out;
}

function withoutDot(name: string): string {
  return name.startsWith('.') ? name.slice(1) : name;
}
