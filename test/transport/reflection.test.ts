import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, grpcClient, grpcMethod, pick, startTestServer } from './fixture.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

// One reflection stream, asked several questions in turn, as grpcurl does.
async function reflect(version: 'v1' | 'v1alpha', requests: object[]): Promise<unknown[]> {
  const method = grpcMethod(`grpc/reflection/${version}/reflection.proto`, `grpc.reflection.${version}.ServerReflection`, 'ServerReflectionInfo');
  const client = grpcClient(server.port);
  const call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new Metadata());
  const responses: AsyncIterator<object> = call[Symbol.asyncIterator]();
  try {
    const answers: unknown[] = [];
    for (const request of requests) {
      call.write(request);
      answers.push((await responses.next()).value);
    }
    return answers;
  } finally {
    call.end();
    client.close();
  }
}

function fileNames(answer: unknown): string[] {
  const files = pick(answer, 'file_descriptor_response', 'file_descriptor_proto');
  if (!Array.isArray(files)) throw new Error(`no file descriptors in ${JSON.stringify(answer)}`);
  return files.map((bytes: Uint8Array) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

describe.each(['v1', 'v1alpha'] as const)('grpc.reflection.%s over grpc-js', (version) => {
  it('lists the served services, health and reflection included', async () => {
    const [answer] = await reflect(version, [{ host: 'example.test', list_services: '*' }]);
    const services = pick(answer, 'list_services_response', 'service');
    if (!Array.isArray(services)) throw new Error('no service list');
    expect(services.map((s) => pick(s, 'name'))).toEqual(
      expect.arrayContaining([
        'atr.v1.RegistryService',
        'atr.v1.ResolveService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]),
    );
    expect(pick(answer, 'valid_host')).toBe('example.test');
    expect(pick(answer, 'original_request', 'list_services')).toBe('*');
  });

  it('answers file_containing_symbol with the file and all its dependencies', async () => {
    const [service, method, nested, leadingDot] = await reflect(version, [
      { file_containing_symbol: 'atr.v1.RegistryService' },
      { file_containing_symbol: 'atr.v1.RegistryService.GetAgent' },
      { file_containing_symbol: 'grpc.health.v1.HealthCheckResponse.ServingStatus' },
      { file_containing_symbol: '.atr.v1.Agent' },
    ]);
    const files = fileNames(service);
    expect(files[0]).toBe('atr/v1/registry.proto');
    expect(files).toEqual(
      expect.arrayContaining([
        'atr/v1/agent.proto',
        'atr/v1/rest.proto',
        'google/api/annotations.proto',
        'google/api/http.proto',
        'google/protobuf/timestamp.proto',
        'google/protobuf/descriptor.proto',
        'google/protobuf/field_mask.proto',
        'google/protobuf/struct.proto',
      ]),
    );
    expect(new Set(files).size).toBe(files.length);
    expect(fileNames(method)[0]).toBe('atr/v1/registry.proto');
    expect(fileNames(nested)).toEqual(['grpc/health/v1/health.proto']);
    expect(fileNames(leadingDot)).toEqual(['atr/v1/agent.proto', 'google/protobuf/timestamp.proto']);
  });

  it('answers file_by_filename, file_containing_extension and all_extension_numbers_of_type', async () => {
    const [byName, extension, numbers] = await reflect(version, [
      { file_by_filename: 'atr/v1/resolve.proto' },
      { file_containing_extension: { containing_type: 'google.protobuf.MethodOptions', extension_number: 72295728 } },
      { all_extension_numbers_of_type: 'google.protobuf.MethodOptions' },
    ]);
    expect(fileNames(byName)[0]).toBe('atr/v1/resolve.proto');
    expect(fileNames(extension)).toEqual(['google/api/annotations.proto', 'google/api/http.proto', 'google/protobuf/descriptor.proto']);
    expect(pick(numbers, 'all_extension_numbers_response')).toEqual({
      base_type_name: 'google.protobuf.MethodOptions',
      extension_number: expect.arrayContaining([72295728, 51001]),
    });
  });

  it('answers what it does not know with error_response NOT_FOUND and keeps the stream open', async () => {
    const [symbol, file, after] = await reflect(version, [
      { file_containing_symbol: 'no.such.Symbol' },
      { file_by_filename: 'no/such.proto' },
      { file_containing_symbol: 'atr.v1.ResolveService' },
    ]);
    expect(pick(symbol, 'error_response', 'error_code')).toBe(5);
    expect(pick(symbol, 'error_response', 'error_message')).toContain('no.such.Symbol');
    expect(pick(file, 'error_response', 'error_code')).toBe(5);
    expect(fileNames(after)[0]).toBe('atr/v1/resolve.proto');
  });
});
