// The API's messages, enums and service descriptors: both SDK entries (`atr` and `atr/browser`) export these.
export * from '../../gen/atr/v1/agent_pb.js';
export * from '../../gen/atr/v1/registry_pb.js';
export * from '../../gen/atr/v1/resolve_pb.js';
export * from '../../gen/atr/v1/verify_pb.js';
export * from '../../gen/atr/v1/transparency_log_pb.js';
export * from '../../gen/atr/v1/api_key_pb.js';
export * from '../../gen/atr/v1/domain_pb.js';
export * from '../../gen/atr/v1/event_pb.js';
export * from '../../gen/atr/v1/job_pb.js';
export * from '../../gen/atr/v1/webhook_pb.js';
