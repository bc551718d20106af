import { loadFileDescriptorSetFromBuffer, type PackageDefinition } from '@grpc/proto-loader';
import { descriptorSetBase64 } from './gen/descriptor-set.js';

/** The tripwire.v1 descriptors, in the form @grpc/reflection serves to grpcurl. */
export function reflectionPackageDefinition(): PackageDefinition {
  return loadFileDescriptorSetFromBuffer(Buffer.from(descriptorSetBase64, 'base64'), {
    longs: Number,
    enums: String,
  });
}
