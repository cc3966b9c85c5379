import { Migration } from '@mikro-orm/migrations';

// PostgreSQL schema: the same tables as the SQLite one, in PostgreSQL's own types.
class InitialSchema extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table agents (
      id serial primary key,
      name varchar(253) not null unique,
      owner varchar(255) not null,
      capabilities jsonb not null default '[]',
      description text not null default '',
      endpoints jsonb not null default '[]',
      status varchar(16) not null check (status in ('active', 'revoked')),
      current_certificate_id integer null,
      revoked_at timestamptz null,
      revocation_reason varchar(32) null,
      version integer not null default 1,
      created_at timestamptz not null,
      updated_at timestamptz not null
    )`);
    this.addSql('create index agents_owner_id_index on agents (owner, id)');
    this.addSql('create index agents_status_id_index on agents (status, id)');
    this.addSql('create index agents_capabilities_index on agents using gin (capabilities jsonb_path_ops)');
    this.addSql(`create table certificates (
      id serial primary key,
      agent_id integer not null references agents (id),
      serial varchar(64) not null unique,
      fingerprint varchar(64) not null unique,
      pem text not null,
      not_before timestamptz not null,
      not_after timestamptz not null,
      revoked_at timestamptz null,
      revocation_reason varchar(32) null,
      created_at timestamptz not null
    )`);
    this.addSql('create index certificates_agent_id_index on certificates (agent_id)');
    this.addSql('create index certificates_revoked_index on certificates (not_after) where revoked_at is not null');
    this.addSql(
      'alter table agents add constraint agents_current_certificate_id_foreign foreign key (current_certificate_id) references certificates (id)',
    );
    this.addSql(`create table audit_events (
      id bigserial primary key,
      event_type varchar(64) not null,
      actor varchar(255) not null,
      agent_name varchar(253) not null,
      metadata jsonb not null default '{}',
      created_at timestamptz not null
    )`);
    this.addSql('create index audit_events_agent_name_id_index on audit_events (agent_name, id)');
    this.addSql('create index audit_events_event_type_id_index on audit_events (event_type, id)');
  }
}

// The transparency log; see the SQLite migration of the same name.
class TransparencyLog extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table tlog_state (
      id integer primary key check (id = 1),
      next_index bigint not null,
      integrated_size bigint not null,
      root_hash bytea not null
    )`);
    this.addSql(
      "insert into tlog_state (id, next_index, integrated_size, root_hash) values (1, 0, 0, decode('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex'))",
    );
    this.addSql(`create table tlog_entries (
      idx bigint primary key,
      data bytea not null,
      leaf_hash bytea not null,
      agent_name varchar(253) not null,
      event_type varchar(64) not null,
      created_at timestamptz not null
    )`);
    this.addSql('create index tlog_entries_agent_name_idx_index on tlog_entries (agent_name, idx)');
    this.addSql('create index tlog_entries_event_type_idx_index on tlog_entries (event_type, idx)');
    this.addSql('create index tlog_entries_leaf_hash_index on tlog_entries (leaf_hash)');
    this.addSql(`create table tlog_nodes (
      level smallint not null,
      idx bigint not null,
      hash bytea not null,
      primary key (level, idx)
    )`);
    this.addSql(`create table tlog_checkpoints (
      tree_size bigint primary key,
      root_hash bytea not null,
      note text not null,
      created_at timestamptz not null
    )`);
  }
}

// API keys. At most one bootstrap key can ever exist (the partial unique index), so processes starting together
// on an empty table create one between them.
class ApiKeys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table api_keys (
      id serial primary key,
      key_id varchar(32) not null unique,
      secret_hash varchar(64) not null,
      role varchar(16) not null,
      owner varchar(255) null,
      description varchar(255) not null default '',
      created_by varchar(255) not null,
      bootstrap boolean not null default false,
      created_at timestamptz not null,
      revoked_at timestamptz null
    )`);
    this.addSql('create unique index api_keys_one_bootstrap on api_keys (bootstrap) where bootstrap = true');
  }
}

// Verification audit events are pruned by age (AUDIT_VERIFICATION_RETENTION_DAYS): the pruning job finds the
// oldest of one event type through this index instead of scanning the table.
class AuditEventsByAge extends Migration {
  override async up(): Promise<void> {
    this.addSql('create index audit_events_event_type_created_at_index on audit_events (event_type, created_at)');
  }
}

// DNS: every RRset the registry has published (the built-in server answers from it; other providers are told the
// differences), and, per agent, the version of it that DNS shows. A removed RRset stays as a row without records
// (a tombstone) so that processes reloading by serial see the removal; serials only grow.
class DnsPublication extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table dns_rrsets (
      serial bigserial primary key,
      zone varchar(253) not null,
      name varchar(253) not null,
      type varchar(8) not null,
      ttl integer not null,
      records jsonb null,
      agent_name varchar(253) not null,
      updated_at timestamptz not null,
      unique (name, type)
    )`);
    this.addSql('create index dns_rrsets_agent_name_index on dns_rrsets (agent_name)');
    this.addSql(`create table dns_publications (
      agent_name varchar(253) primary key,
      agent_version integer not null,
      status varchar(16) not null check (status in ('published', 'pending', 'failed')),
      error text null,
      attempts integer not null default 0,
      next_attempt_at timestamptz null,
      published_at timestamptz null,
      updated_at timestamptz not null
    )`);
    this.addSql('create index dns_publications_next_attempt_index on dns_publications (next_attempt_at) where next_attempt_at is not null');
    // The publisher finds changes made by other processes by their time.
    this.addSql('create index agents_updated_at_index on agents (updated_at)');
  }
}

// Domain validation: the domains owners have verified, with where their re-validation stands (a process claims a
// due domain by writing claimed_by and claim_until before it checks it), and the challenges owners answer, kept
// after use so that a token never answers twice.
class Domains extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table domains (
      id serial primary key,
      domain varchar(253) not null unique,
      owner varchar(255) not null,
      status varchar(16) not null check (status in ('verified', 'flagged', 'suspended')),
      method varchar(8) not null check (method in ('dns', 'http')),
      token varchar(64) not null,
      verified_at timestamptz not null,
      last_checked_at timestamptz not null,
      next_check_at timestamptz not null,
      flagged_at timestamptz null,
      failure text not null default '',
      evidence text not null,
      claimed_by varchar(64) null,
      claim_until timestamptz null,
      updated_at timestamptz not null
    )`);
    this.addSql('create index domains_owner_id_index on domains (owner, id)');
    this.addSql('create index domains_next_check_at_index on domains (next_check_at)');
    this.addSql(`create table domain_challenges (
      id serial primary key,
      token varchar(64) not null unique,
      domain varchar(253) not null,
      owner varchar(255) not null,
      created_at timestamptz not null,
      expires_at timestamptz not null,
      used_at timestamptz null
    )`);
    this.addSql('create index domain_challenges_domain_owner_id_index on domain_challenges (domain, owner, id)');
  }
}

// Background jobs when Redis is not there (the database queue): a job is one row, taken by a worker with a
// conditional update and held under a lease; completed rows are kept a while so enqueueing stays idempotent. And
// the lifecycle marks: one row per certificate and lifecycle event (expiring, expired), written in the transaction
// that records the event, so a sweep that runs twice records nothing twice.
class Jobs extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table jobs (
      id varchar(200) primary key,
      name varchar(100) not null,
      payload text not null,
      state varchar(16) not null check (state in ('waiting', 'delayed', 'active', 'completed', 'failed')),
      attempts integer not null,
      max_attempts integer not null,
      last_error text not null,
      run_at timestamptz not null,
      lease_owner varchar(64) null,
      lease_until timestamptz null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      finished_at timestamptz null
    )`);
    this.addSql('create index jobs_state_run_at_index on jobs (state, run_at)');
    this.addSql('create index jobs_created_at_index on jobs (created_at)');
    this.addSql(`create table lifecycle_marks (
      cert_fingerprint varchar(64) not null,
      kind varchar(16) not null check (kind in ('expiring', 'expired')),
      agent_name varchar(253) not null,
      created_at timestamptz not null,
      primary key (cert_fingerprint, kind)
    )`);
    // The sweep reads current certificates by their end, oldest first, and each agent by its id.
    this.addSql('create index certificates_not_after_index on certificates (not_after)');
  }
}

// Webhooks: an owner's endpoints with their signing secret (kept to sign, never shown again), where each stands
// (failures in a row, disabled), and from which audit id it receives events; the delivery log, one row per attempt;
// and the dispatch cursor, one row that the process holding its lease moves along the event feed. The cursor starts
// at the newest audit event: there is no webhook yet to send older ones to.
class Webhooks extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table webhooks (
      id varchar(32) primary key,
      owner varchar(255) not null,
      url text not null,
      event_types text not null,
      description text not null,
      secret varchar(128) not null,
      from_event_id bigint not null,
      consecutive_failures integer not null,
      created_by varchar(255) not null,
      created_at timestamptz not null,
      disabled_at timestamptz null,
      disabled_reason text not null
    )`);
    this.addSql('create index webhooks_owner_index on webhooks (owner)');
    this.addSql(`create table webhook_deliveries (
      id bigserial primary key,
      webhook_id varchar(32) not null,
      event_id varchar(64) not null,
      event_type varchar(64) not null,
      attempt integer not null,
      status_code integer not null,
      error text not null,
      duration_ms integer not null,
      created_at timestamptz not null
    )`);
    this.addSql('create index webhook_deliveries_webhook_id_id_index on webhook_deliveries (webhook_id, id)');
    this.addSql('create index webhook_deliveries_created_at_index on webhook_deliveries (created_at)');
    this.addSql(`create table webhook_dispatch (
      id integer primary key check (id = 1),
      after_id bigint not null,
      lease_owner varchar(64) null,
      lease_until timestamptz null
    )`);
    this.addSql('insert into webhook_dispatch (id, after_id) select 1, coalesce(max(id), 0) from audit_events');
  }
}

// Registrations and rotations accepted to finish in the background (src/registry/operations.ts).
class Operations extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table operations (
      id varchar(36) primary key,
      kind varchar(16) not null check (kind in ('register', 'rotate')),
      agent_name varchar(253) not null,
      owner varchar(255) not null,
      actor varchar(255) not null,
      state varchar(16) not null check (state in ('pending', 'succeeded', 'failed')),
      step varchar(16) not null check (step in ('issue', 'record', 'done')),
      attempts integer not null,
      public_key bytea not null,
      key_algorithm varchar(32) not null,
      key_source varchar(16) not null,
      expected_version integer null,
      scope_owner varchar(255) null,
      admission text not null,
      certificate_pem text null,
      log_index bigint null,
      error_code varchar(64) not null,
      error_message text not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      completed_at timestamptz null
    )`);
    this.addSql('create index operations_agent_name_index on operations (agent_name)');
    this.addSql('create index operations_state_created_at_index on operations (state, created_at)');
  }
}

// Every agent listing filter and deep page read through an index; see the SQLite migration of the same name. The GIN
// index on capabilities finds an agent's capabilities but not a capability's agents in id order, which a page needs.
class ListIndexes extends Migration {
  override async up(): Promise<void> {
    this.addSql('create index agents_status_current_certificate_id_index on agents (status, current_certificate_id, id)');
    this.addSql(`create table agent_capabilities (
      capability varchar(64) not null,
      agent_id integer not null references agents (id) on delete cascade,
      primary key (capability, agent_id)
    )`);
    this.addSql('create index agent_capabilities_agent_id_index on agent_capabilities (agent_id)');
    this.addSql(
      'insert into agent_capabilities (capability, agent_id) select distinct j.value, a.id from agents a cross join jsonb_array_elements_text(a.capabilities) j(value)',
    );
    this.addSql(`create function agent_capabilities_sync() returns trigger language plpgsql as $$
    begin
      if tg_op = 'UPDATE' then
        delete from agent_capabilities where agent_id = old.id;
      end if;
      insert into agent_capabilities (capability, agent_id)
        select distinct j.value, new.id from jsonb_array_elements_text(new.capabilities) j(value)
        on conflict do nothing;
      return null;
    end $$`);
    this.addSql(
      'create trigger agent_capabilities_sync after insert or update of capabilities on agents for each row execute function agent_capabilities_sync()',
    );
  }
}

// The bootstrap admin key is made whenever no active admin key exists (a bootstrap key revoked because its file could
// not be written, or by an admin, no longer blocks the next one): at most one ACTIVE bootstrap key, so processes
// starting together on a registry without one still make one between them.
class OneActiveBootstrapKey extends Migration {
  override async up(): Promise<void> {
    this.addSql('drop index api_keys_one_bootstrap');
    this.addSql('create unique index api_keys_one_active_bootstrap on api_keys (bootstrap) where bootstrap = true and revoked_at is null');
  }
}

// Where /readyz checks, while a write has failed for want of space, that the database takes writes again: one row a
// little larger than a page, written and deleted in one transaction, so the check needs a page the database may not have.
class StorageProbe extends Migration {
  override async up(): Promise<void> {
    this.addSql('create table storage_probe (id integer primary key, data bytea not null)');
  }
}

// The revocation feed asks at every poll (each 250 ms by default) for the certificates retired since a moment just
// before its last poll, oldest first. The one index on retired certificates is by expiry (the CRL's), so each poll
// read the row of every certificate ever retired to compare its revocation time: 65 ms at 20,000 of 10^6, during
// which a SQLite server answered nothing. This one seeks to the moment and reads in the order asked for.
class RetiredSinceIndex extends Migration {
  override async up(): Promise<void> {
    this.addSql('create index certificates_revoked_at_index on certificates (revoked_at, id) where revoked_at is not null');
  }
}

export const postgresqlMigrations = [
  { name: '0001_initial_schema', class: InitialSchema },
  { name: '0002_transparency_log', class: TransparencyLog },
  { name: '0003_api_keys', class: ApiKeys },
  { name: '0004_audit_events_by_age', class: AuditEventsByAge },
  { name: '0005_dns_publication', class: DnsPublication },
  { name: '0006_domains', class: Domains },
  { name: '0008_jobs', class: Jobs },
  { name: '0009_webhooks', class: Webhooks },
  { name: '0010_operations', class: Operations },
  { name: '0011_list_indexes', class: ListIndexes },
  { name: '0012_one_active_bootstrap_key', class: OneActiveBootstrapKey },
  { name: '0013_storage_probe', class: StorageProbe },
  { name: '0014_retired_since_index', class: RetiredSinceIndex },
];
