import type { DescService } from '@bufbuild/protobuf';
import { Health } from '../gen/grpc/health/v1/health_pb.js';
import { ServerReflection as ServerReflectionV1 } from '../gen/grpc/reflection/v1/reflection_pb.js';
import { ServerReflection as ServerReflectionV1alpha } from '../gen/grpc/reflection/v1alpha/reflection_pb.js';

/** The services every listener serves besides the API: health and both reflection versions, public and unmetered. */
export const infrastructureServices: readonly DescService[] = [Health, ServerReflectionV1, ServerReflectionV1alpha];
