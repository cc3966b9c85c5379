import { DomainError } from '../errors.ts';

// The refusals of domain validation that more than one module raises.

export const domainTaken = (domain: string) => new DomainError('domain_taken', `domain: ${domain} is already verified by another owner`);

export const domainNotFound = (domain: string) => new DomainError('domain_not_found', `domain ${domain} is not verified by anyone`);

export const challengeFailed = (reason: string) => new DomainError('challenge_failed', reason);
