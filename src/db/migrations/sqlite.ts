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

export const sqliteMigrations = [{ name: '0001_initial_schema', class: InitialSchema }];
