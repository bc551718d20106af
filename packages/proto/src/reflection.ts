import {
  loadFileDescriptorSetFromBuffer,
  loadSync,
  type PackageDefinition,
} from '@grpc/proto-loader';
import { descriptorSetBase64 } from './gen/descriptor-set.js';

/**
 * The tripwire.v1 descriptors, plus any other .proto files the server also
 * serves (e.g. grpc.health.v1), in the form @grpc/reflection hands to grpcurl.
 */
export function reflectionPackageDefinition(extraProtoFiles: string[] = []): PackageDefinition {
  const tripwire = loadFileDescriptorSetFromBuffer(Buffer.from(descriptorSetBase64, 'base64'));
  for (const file of extraProtoFiles) Object.assign(tripwire, loadSync(file));
  return tripwire;
}
