// The external DNS provider DNS_PROVIDER names, built from the settings, with every missing or unusable setting
// reported at start. DNS_PROVIDER=local (the built-in server) is not made here: its "provider" is the registry's own
// zone table, which src/server/dns-publication.ts assembles.
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { DnsProvider } from '../dns/rrset.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { CloudflareProvider } from './cloudflare.ts';
import { Rfc2136Provider } from './rfc2136.ts';
import { Route53Provider } from './route53.ts';

export type ExternalProviderName = 'rfc2136' | 'route53' | 'cloudflare';

/** Cloudflare's shortest TTL (Enterprise zones; others 60 s); 1 would mean "automatic" there, not one second. */
const CLOUDFLARE_MIN_TTL = 30;

/** Why the settings cannot make the provider, one line per problem; empty when they can. */
export function dnsProviderProblems(config: Config): string[] {
  const provider = config.dnsProvider;
  const needs = (value: string | undefined, env: string) => (value === undefined || value.trim() === '' ? [`DNS_PROVIDER=${provider} needs ${env}`] : []);
  switch (provider) {
    case 'rfc2136': {
      const problems = [...needs(config.rfc2136TsigKeyName, 'RFC2136_TSIG_KEY_NAME'), ...needs(config.rfc2136TsigSecret, 'RFC2136_TSIG_SECRET')];
      if (config.rfc2136Server.length !== 1) problems.push(`DNS_PROVIDER=rfc2136 needs RFC2136_SERVER: one primary server as host:port${config.rfc2136Server.length > 1 ? ` (not ${config.rfc2136Server.length})` : ''}`);
      const secret = config.rfc2136TsigSecret;
      if (secret !== undefined && secret !== '' && (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || Buffer.from(secret, 'base64').length < 16)) {
        problems.push('RFC2136_TSIG_SECRET must be base64 of at least 16 bytes, as tsig-keygen -a hmac-sha256 prints it');
      }
      return problems;
    }
    case 'route53': {
      const problems = needs(config.route53HostedZoneId, 'ROUTE53_HOSTED_ZONE_ID');
      if ((config.route53AccessKeyId === undefined) !== (config.route53SecretAccessKey === undefined)) {
        problems.push('ROUTE53_AWS_ACCESS_KEY_ID and ROUTE53_AWS_SECRET_ACCESS_KEY go together (or set neither for the AWS credential chain)');
      }
      return problems;
    }
    case 'cloudflare': {
      const problems = [...needs(config.cloudflareApiToken, 'CLOUDFLARE_API_TOKEN'), ...needs(config.cloudflareZoneId, 'CLOUDFLARE_ZONE_ID')];
      if (config.dnsTtl < CLOUDFLARE_MIN_TTL) problems.push(`DNS_PROVIDER=cloudflare needs DNS_TTL of at least ${CLOUDFLARE_MIN_TTL} (Cloudflare's shortest, Enterprise; 60 otherwise), not ${config.dnsTtl}`);
      return problems;
    }
    default:
      return [];
  }
}

/** host:port or [v6]:port as the endpoints setting writes it. */
function hostAndPort(endpoint: string): { host: string; port: number } {
  const match = /^(?:\[(.+)\]|(.+)):(\d+)$/.exec(endpoint);
  return { host: match?.[1] ?? match?.[2] ?? endpoint, port: Number(match?.[3] ?? 53) };
}

/**
 * The provider DNS_PROVIDER names (rfc2136, route53 or cloudflare). Throws a ConfigError naming each missing or
 * unusable setting; throws too for local or no provider, which the built-in server's publication handles itself.
 */
export function createDnsProvider(config: Config, logger: Logger = silentLogger): DnsProvider {
  const problems = dnsProviderProblems(config);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  switch (config.dnsProvider) {
    case 'rfc2136':
      return new Rfc2136Provider({ ...hostAndPort(config.rfc2136Server[0] ?? ''), keyName: config.rfc2136TsigKeyName ?? '', secret: config.rfc2136TsigSecret ?? '', logger });
    case 'route53':
      return new Route53Provider({
        hostedZoneId: config.route53HostedZoneId ?? '',
        region: config.route53Region,
        endpoint: config.route53Endpoint,
        accessKeyId: config.route53AccessKeyId,
        secretAccessKey: config.route53SecretAccessKey,
        logger,
      });
    case 'cloudflare':
      return new CloudflareProvider({ apiToken: config.cloudflareApiToken ?? '', zoneId: config.cloudflareZoneId ?? '', apiUrl: config.cloudflareApiUrl, logger });
    default:
      throw new ConfigError(`DNS_PROVIDER=${config.dnsProvider ?? '(unset)'} is the built-in server, not an external provider: the DNS publication serves it from the zone table`);
  }
}
