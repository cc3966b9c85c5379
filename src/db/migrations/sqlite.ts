import { Migration } from '@mikro-orm/migrations';

// SQLite schema. Timestamps are stored as milliseconds since the epoch (MikroORM's SQLite representation).
class InitialSchema extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table agents (
      id integer primary key autoincrement,
      name varchar(253) not null unique,
      owner varchar(255) not null,
      capabilities json not null default '[]',
      description text not null default '',
      endpoints json not null default '[]',
      status varchar(16) not null check (status in ('active', 'revoked')),
      current_certificate_id integer null references certificates (id),
      revoked_at datetime null,
      revocation_reason varchar(32) null,
      version integer not null default 1,
      created_at datetime not null,
      updated_at datetime not null
    )`);
    this.addSql('create index agents_owner_id_index on agents (owner, id)');
    this.addSql('create index agents_status_id_index on agents (status, id)');
    this.addSql(`create table certificates (
      id integer primary key autoincrement,
      agent_id integer not null references agents (id),
      serial varchar(64) not null unique,
      fingerprint varchar(64) not null unique,
      pem text not null,
      not_before datetime not null,
      not_after datetime not null,
      revoked_at datetime null,
      revocation_reason varchar(32) null,
      created_at datetime not null
    )`);
    this.addSql('create index certificates_agent_id_index on certificates (agent_id)');
    this.addSql('create index certificates_revoked_index on certificates (not_after) where revoked_at is not null');
    this.addSql(`create table audit_events (
      id integer primary key autoincrement,
      event_type varchar(64) not null,
      actor varchar(255) not null,
      agent_name varchar(253) not null,
      metadata json not null default '{}',
      created_at datetime not null
    )`);
    this.addSql('create index audit_events_agent_name_id_index on audit_events (agent_name, id)');
    this.addSql('create index audit_events_event_type_id_index on audit_events (event_type, id)');
  }
}

// The transparency log: a single sequencer row, entries in index order, and the hash of every perfect subtree
// (level L, index i covers leaves [i·2^L, (i+1)·2^L)), from which roots, proofs and tiles are read.
class TransparencyLog extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table tlog_state (
      id integer primary key check (id = 1),
      next_index integer not null,
      integrated_size integer not null,
      root_hash blob not null
    )`);
    this.addSql(
      "insert into tlog_state (id, next_index, integrated_size, root_hash) values (1, 0, 0, x'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')",
    );
    this.addSql(`create table tlog_entries (
      idx integer primary key,
      data blob not null,
      leaf_hash blob not null,
      agent_name varchar(253) not null,
      event_type varchar(64) not null,
      created_at datetime not null
    )`);
    this.addSql('create index tlog_entries_agent_name_idx_index on tlog_entries (agent_name, idx)');
    this.addSql('create index tlog_entries_event_type_idx_index on tlog_entries (event_type, idx)');
    this.addSql('create index tlog_entries_leaf_hash_index on tlog_entries (leaf_hash)');
    this.addSql(`create table tlog_nodes (
      level integer not null,
      idx integer not null,
      hash blob not null,
      primary key (level, idx)
    ) without rowid`);
    this.addSql(`create table tlog_checkpoints (
      tree_size integer primary key,
      root_hash blob not null,
      note text not null,
      created_at datetime not null
    )`);
  }
}

// API keys. At most one bootstrap key can ever exist (the partial unique index), so processes starting together
// on an empty table create one between them.
class ApiKeys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table api_keys (
      id integer primary key autoincrement,
      key_id varchar(32) not null unique,
      secret_hash varchar(64) not null,
      role varchar(16) not null,
      owner varchar(255) null,
      description varchar(255) not null default '',
      created_by varchar(255) not null,
      bootstrap integer not null default 0,
      created_at datetime not null,
      revoked_at datetime null
    )`);
    this.addSql('create unique index api_keys_one_bootstrap on api_keys (bootstrap) where bootstrap = 1');
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
      serial integer primary key autoincrement,
      zone varchar(253) not null,
      name varchar(253) not null,
      type varchar(8) not null,
      ttl integer not null,
      records json null,
      agent_name varchar(253) not null,
      updated_at datetime not null,
      unique (name, type)
    )`);
    this.addSql('create index dns_rrsets_agent_name_index on dns_rrsets (agent_name)');
    this.addSql(`create table dns_publications (
      agent_name varchar(253) primary key,
      agent_version integer not null,
      status varchar(16) not null check (status in ('published', 'pending', 'failed')),
      error text null,
      attempts integer not null default 0,
      next_attempt_at datetime null,
      published_at datetime null,
      updated_at datetime not null
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
      id integer primary key autoincrement,
      domain varchar(253) not null unique,
      owner varchar(255) not null,
      status varchar(16) not null check (status in ('verified', 'flagged', 'suspended')),
      method varchar(8) not null check (method in ('dns', 'http')),
      token varchar(64) not null,
      verified_at datetime not null,
      last_checked_at datetime not null,
      next_check_at datetime not null,
      flagged_at datetime null,
      failure text not null default '',
      evidence text not null,
      claimed_by varchar(64) null,
      claim_until datetime null,
      updated_at datetime not null
    )`);
    this.addSql('create index domains_owner_id_index on domains (owner, id)');
    this.addSql('create index domains_next_check_at_index on domains (next_check_at)');
    this.addSql(`create table domain_challenges (
      id integer primary key autoincrement,
      token varchar(64) not null unique,
      domain varchar(253) not null,
      owner varchar(255) not null,
      created_at datetime not null,
      expires_at datetime not null,
      used_at datetime null
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
      run_at datetime not null,
      lease_owner varchar(64) null,
      lease_until datetime null,
      created_at datetime not null,
      updated_at datetime not null,
      finished_at datetime null
    )`);
    this.addSql('create index jobs_state_run_at_index on jobs (state, run_at)');
    this.addSql('create index jobs_created_at_index on jobs (created_at)');
    this.addSql(`create table lifecycle_marks (
      cert_fingerprint varchar(64) not null,
      kind varchar(16) not null check (kind in ('expiring', 'expired')),
      agent_name varchar(253) not null,
      created_at datetime not null,
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
      from_event_id integer not null,
      consecutive_failures integer not null,
      created_by varchar(255) not null,
      created_at datetime not null,
      disabled_at datetime null,
      disabled_reason text not null
    )`);
    this.addSql('create index webhooks_owner_index on webhooks (owner)');
    this.addSql(`create table webhook_deliveries (
      id integer primary key autoincrement,
      webhook_id varchar(32) not null,
      event_id varchar(64) not null,
      event_type varchar(64) not null,
      attempt integer not null,
      status_code integer not null,
      error text not null,
      duration_ms integer not null,
      created_at datetime not null
    )`);
    this.addSql('create index webhook_deliveries_webhook_id_id_index on webhook_deliveries (webhook_id, id)');
    this.addSql('create index webhook_deliveries_created_at_index on webhook_deliveries (created_at)');
    this.addSql(`create table webhook_dispatch (
      id integer primary key check (id = 1),
      after_id integer not null,
      lease_owner varchar(64) null,
      lease_until datetime null
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
      public_key blob not null,
      key_algorithm varchar(32) not null,
      key_source varchar(16) not null,
      expected_version integer null,
      scope_owner varchar(255) null,
      admission text not null,
      certificate_pem text null,
      log_index bigint null,
      error_code varchar(64) not null,
      error_message text not null,
      created_at datetime not null,
      updated_at datetime not null,
      completed_at datetime null
    )`);
    this.addSql('create index operations_agent_name_index on operations (agent_name)');
    this.addSql('create index operations_state_created_at_index on operations (state, created_at)');
  }
}

// Every agent listing filter and deep page read through an index. Pending agents (active, no certificate yet) are
// found by (status, current_certificate_id, id) in id order. A capability filter cannot use an index on a JSON array
// on SQLite, so each agent's capabilities are also kept one row each in agent_capabilities, whose key lists a
// capability's agents in id order; triggers keep it in step with agents.capabilities, so no writer has to.
class ListIndexes extends Migration {
  override async up(): Promise<void> {
    this.addSql('create index agents_status_current_certificate_id_index on agents (status, current_certificate_id, id)');
    this.addSql(`create table agent_capabilities (
      capability varchar(64) not null,
      agent_id integer not null,
      primary key (capability, agent_id)
    ) without rowid`);
    this.addSql('create index agent_capabilities_agent_id_index on agent_capabilities (agent_id)');
    this.addSql('insert or ignore into agent_capabilities (capability, agent_id) select j.value, a.id from agents a, json_each(a.capabilities) j');
    this.addSql(`create trigger agent_capabilities_insert after insert on agents begin
      insert or ignore into agent_capabilities (capability, agent_id) select j.value, new.id from json_each(new.capabilities) j;
    end`);
    this.addSql(`create trigger agent_capabilities_update after update of capabilities on agents begin
      delete from agent_capabilities where agent_id = old.id;
      insert or ignore into agent_capabilities (capability, agent_id) select j.value, new.id from json_each(new.capabilities) j;
    end`);
    this.addSql(`create trigger agent_capabilities_delete after delete on agents begin
      delete from agent_capabilities where agent_id = old.id;
    end`);
  }
}

// The bootstrap admin key is made whenever no active admin key exists (a bootstrap key revoked because its file could
// not be written, or by an admin, no longer blocks the next one): at most one ACTIVE bootstrap key, so processes
// starting together on a registry without one still make one between them.
class OneActiveBootstrapKey extends Migration {
  override async up(): Promise<void> {
    this.addSql('drop index api_keys_one_bootstrap');
    this.addSql('create unique index api_keys_one_active_bootstrap on api_keys (bootstrap) where bootstrap = 1 and revoked_at is null');
  }
}

// Where /readyz checks, while a write has failed for want of space, that the database takes writes again: one row a
// little larger than a page, written and deleted in one transaction, so the check needs a page the database may not have.
class StorageProbe extends Migration {
  override async up(): Promise<void> {
    this.addSql('create table storage_probe (id integer primary key, data blob not null)');
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

export const sqliteMigrations = [
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
